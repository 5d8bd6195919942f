//! The signing module against the specification's example and its edge cases.

use super::*;

// The example of the Standard Webhooks specification and its reference libraries.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TIMESTAMP: i64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn verify_at(secrets: &WebhookSecrets, signature: &str, now: i64) -> Result<(), VerifyError> {
    let ts = TIMESTAMP.to_string();
    secrets.verify(
        Some(ID),
        Some(&ts),
        Some(signature),
        BODY,
        now,
        DEFAULT_TOLERANCE_SECS,
    )
}

#[test]
fn signing_reproduces_the_specification_example() {
    let secrets = WebhookSecrets::parse(SECRET).unwrap();
    assert_eq!(secrets.sign(ID, TIMESTAMP, BODY), EXPECTED);
    assert_eq!(verify_at(&secrets, EXPECTED, TIMESTAMP), Ok(()));
}

#[test]
fn every_key_of_a_rotation_signs_and_any_one_verifies() {
    let both = WebhookSecrets::parse(&format!("new-raw-key , {SECRET}")).unwrap();
    let signature = both.sign(ID, TIMESTAMP, BODY);
    let parts: Vec<&str> = signature.split(' ').collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1], EXPECTED);
    let old_only = WebhookSecrets::parse(SECRET).unwrap();
    assert_eq!(verify_at(&old_only, &signature, TIMESTAMP), Ok(()));
    let new_only = WebhookSecrets::parse("new-raw-key").unwrap();
    assert_eq!(verify_at(&new_only, &signature, TIMESTAMP), Ok(()));
    assert_eq!(
        verify_at(&new_only, EXPECTED, TIMESTAMP),
        Err(VerifyError::NoMatch)
    );
}

#[test]
fn a_raw_key_is_used_as_its_bytes() {
    let raw = WebhookSecrets::parse("plain secret").unwrap();
    let expected = {
        let mut m = HmacSha256::new_from_slice(b"plain secret").unwrap();
        m.update(format!("{ID}.{TIMESTAMP}.").as_bytes());
        m.update(BODY);
        format!("v1,{}", BASE64.encode(m.finalize().into_bytes()))
    };
    assert_eq!(raw.sign(ID, TIMESTAMP, BODY), expected);
}

#[test]
fn timestamps_more_than_five_minutes_away_are_refused_both_ways() {
    let secrets = WebhookSecrets::parse(SECRET).unwrap();
    assert_eq!(verify_at(&secrets, EXPECTED, TIMESTAMP + 300), Ok(()));
    assert_eq!(verify_at(&secrets, EXPECTED, TIMESTAMP - 300), Ok(()));
    assert_eq!(
        verify_at(&secrets, EXPECTED, TIMESTAMP + 301),
        Err(VerifyError::OutsideTolerance(301))
    );
    assert_eq!(
        verify_at(&secrets, EXPECTED, TIMESTAMP - 301),
        Err(VerifyError::OutsideTolerance(-301))
    );
}

#[test]
fn tampering_and_malformed_headers_are_refused() {
    let secrets = WebhookSecrets::parse(SECRET).unwrap();
    let ts = TIMESTAMP.to_string();
    let check = |id: Option<&str>, ts: Option<&str>, sig: Option<&str>, body: &[u8]| {
        secrets.verify(id, ts, sig, body, TIMESTAMP, DEFAULT_TOLERANCE_SECS)
    };
    assert_eq!(
        check(Some(ID), Some(&ts), Some(EXPECTED), b"{\"test\": 1}"),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        check(Some("msg_other"), Some(&ts), Some(EXPECTED), BODY),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        check(None, Some(&ts), Some(EXPECTED), BODY),
        Err(VerifyError::MissingHeader(HEADER_ID))
    );
    assert_eq!(
        check(Some(ID), None, Some(EXPECTED), BODY),
        Err(VerifyError::MissingHeader(HEADER_TIMESTAMP))
    );
    assert_eq!(
        check(Some(ID), Some(&ts), None, BODY),
        Err(VerifyError::MissingHeader(HEADER_SIGNATURE))
    );
    assert_eq!(
        check(Some(ID), Some("soon"), Some(EXPECTED), BODY),
        Err(VerifyError::BadTimestamp)
    );
    // Another version, a truncated tag and garbage never match.
    let v2 = EXPECTED.replacen("v1,", "v2,", 1);
    assert_eq!(
        check(Some(ID), Some(&ts), Some(&v2), BODY),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        check(Some(ID), Some(&ts), Some("v1,g0hM9SsE+OTPJTGt"), BODY),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        check(Some(ID), Some(&ts), Some("v1,@@@ nonsense"), BODY),
        Err(VerifyError::NoMatch)
    );
    // A good one among bad ones is enough.
    let mixed = format!("v1,bm9wZQ== {EXPECTED}");
    assert_eq!(check(Some(ID), Some(&ts), Some(&mixed), BODY), Ok(()));
}

#[test]
fn secrets_that_cannot_be_right_are_refused() {
    assert_eq!(WebhookSecrets::parse("").unwrap_err(), SecretError::Empty);
    assert_eq!(
        WebhookSecrets::parse(" , ").unwrap_err(),
        SecretError::Empty
    );
    assert_eq!(
        WebhookSecrets::parse("whsec_").unwrap_err(),
        SecretError::Empty
    );
    assert_eq!(
        WebhookSecrets::parse("ok,whsec_not base64!").unwrap_err(),
        SecretError::BadBase64(2)
    );
    assert!(!format!("{:?}", WebhookSecrets::parse(SECRET).unwrap()).contains("MfKQ"));
    // Unpadded base64, as some providers print it, is the same key.
    let padded = WebhookSecrets::parse("whsec_AAEC").unwrap();
    let unpadded = WebhookSecrets::parse("whsec_AAE").unwrap();
    assert_eq!(
        padded.sign(ID, TIMESTAMP, BODY).len(),
        unpadded.sign(ID, TIMESTAMP, BODY).len()
    );
    assert_eq!(
        WebhookSecrets::parse("whsec_AAE=")
            .unwrap()
            .sign(ID, TIMESTAMP, BODY),
        unpadded.sign(ID, TIMESTAMP, BODY)
    );
}
