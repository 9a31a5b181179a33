// Swagger UI over the document this server generates. Every URL is relative to /docs, and
// nothing is loaded from anywhere else (the page's Content-Security-Policy enforces it).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayOperationId: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
