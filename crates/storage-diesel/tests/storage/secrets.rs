//! Nothing secret reaches the SQLite file: neither an account secret (base32 or raw), nor a
//! service token, nor a device token.

use domain::service::NewToken;

use crate::support::{alice_app, caller, enroll_pixel, kit, new_account, sqlite, store};

/// Raw secret bytes and their base32 form (as in the otpauth URI).
const RAW: &[u8] = b"NeedleSecret#2026!xy";
const B32: &str = "JZSWKZDMMVJWKY3SMV2CGMRQGI3CC6DZ";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn sqlite_file_holds_no_secret_and_no_token() {
    let db = sqlite();
    let (service_token, device_token) = {
        let k = kit(store(&db));
        let a = &k.authd;
        let o = caller();
        let app = alice_app(a, &o);
        let lower = B32.to_lowercase();
        for uri in [
            format!("otpauth://totp/Needle:needle-account@example.com?secret={B32}"),
            format!("otpauth://hotp/Needle:hotp?secret={lower}&counter=3"),
        ] {
            let account = a.create_account(&o, app, new_account(uri)).unwrap();
            a.generate_otp(&o, app, *account.id()).unwrap();
        }
        let (_, st) = a.create_service_token(&o, NewToken::admin(None, None)).unwrap();
        a.authenticate_service_token(st.expose()).unwrap();
        let dt = enroll_pixel(a, &o, app);
        a.device_list_accounts(&dt).unwrap();
        (st.expose().to_owned(), dt)
        // The kit, its store and every pooled connection close here: SQLite checkpoints the WAL.
    };

    let mut bytes = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(db.dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("authd.sqlite") {
            bytes.extend(std::fs::read(&path).unwrap());
            files.push(name);
        }
    }
    assert!(files.contains(&"authd.sqlite".to_owned()), "{files:?}");
    // The scan does see the data: the account name is stored in the clear.
    assert!(contains(&bytes, b"needle-account@example.com"), "scanned {files:?}");

    let needles: [(&str, &[u8]); 7] = [
        ("base32 secret", B32.as_bytes()),
        ("lower-case base32 secret", B32.to_lowercase().into_bytes().leak()),
        ("raw secret", RAW),
        ("service token", service_token.as_bytes()),
        (
            "service token body",
            service_token.strip_prefix("authd_st_").unwrap().as_bytes(),
        ),
        ("device token", device_token.as_bytes()),
        (
            "device token body",
            device_token.strip_prefix("authd_dev_").unwrap().as_bytes(),
        ),
    ];
    for (what, needle) in needles {
        assert!(!contains(&bytes, needle), "{what} found in {files:?}");
    }
}
