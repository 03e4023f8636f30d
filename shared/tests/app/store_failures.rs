//! What a client sees when the store fails: an outage is the contract's 503 in each family
//! and the app serves again after it; a missing table or a damaged record is the contract's
//! 500, with nothing of the cause in the body.

use serde_json::json;
use shared::users::NewUser;
use testkit::{TestApp, bearer, header, parts};

use crate::api::Endpoint::{self, *};

#[tokio::test]
async fn a_store_outage_is_a_clean_503_in_each_family_and_the_app_recovers() {
    // The binary's DynamoDB Local behind a proxy that is down until the end: a fresh app
    // whose store is unreachable from its first request.
    let proxy = testkit::proxy::FaultProxy::start(testkit::dynamodb_local().address());
    proxy.go_down();
    let table = format!("outage-{}", testkit::free_port());
    let test = TestApp::on(&proxy.endpoint(), &table, None).await;
    let token = test.app.keys().access_token(
        shared::tokens::new_user_id().unwrap(),
        shared::tokens::TokenNonce::generate().unwrap(),
    );
    for endpoint in Endpoint::ALL {
        let response = endpoint.call(&test.app, &[bearer(&token)]).await;
        let expected = if endpoint == AuthUser {
            json!({"data": null, "success": false, "errno": -200001, "error": "Service temporarily unavailable"})
        } else {
            json!({"detail": "Service temporarily unavailable, try again later."})
        };
        assert_eq!(parts(&response), (503, expected), "{endpoint:?}");
        assert_eq!(header(&response, "retry-after"), Some("1"));
    }

    // The store comes back on the same address: the same app serves again.
    proxy.back_up();
    let patient = testkit::patient_client(&proxy.endpoint()).await;
    shared::store::Store::new(patient, &table)
        .create_table()
        .await
        .unwrap();
    let (_, token) = test
        .app
        .create_user(NewUser {
            email: "ann@example.com".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    assert_eq!(
        parts(&CurrentUser.call(&test.app, &[bearer(&token)]).await).0,
        200
    );
}

#[tokio::test]
async fn a_missing_table_is_a_clean_500_that_leaks_nothing() {
    let test = TestApp::on(testkit::dynamodb_local().endpoint(), "no-such-table", None).await;
    let token = test.app.keys().access_token(
        shared::tokens::new_user_id().unwrap(),
        shared::tokens::TokenNonce::generate().unwrap(),
    );
    let response = CurrentUser.call(&test.app, &[bearer(&token)]).await;
    assert_eq!(
        parts(&response),
        (500, json!({"detail": "A server error occurred."}))
    );
    // Counted as DynamoDB refusing the request (a deployment problem), not as a bug.
    assert_eq!(
        response.extensions().get::<shared::obs::metrics::Outcome>(),
        Some(&shared::obs::metrics::Outcome::STORE_REFUSED)
    );
    let (status, body) = parts(&AuthUser.call(&test.app, &[bearer(&token)]).await);
    assert_eq!(
        (status, body),
        (
            500,
            json!({"data": null, "success": false, "errno": -200000, "error": "Internal server error"})
        )
    );
}

#[tokio::test]
async fn a_stored_timestamp_no_format_can_print_is_a_clean_500_not_a_crash() {
    let test = TestApp::new().await;
    let (user, token) = test.user("ann@example.com").await;
    let client = testkit::local_client(testkit::dynamodb_local().endpoint()).await;
    client
        .update_item()
        .table_name(test.app.store().table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", user.id)),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("USER".into()))
        .update_expression("SET created_at = :year_33658")
        .expression_attribute_values(
            ":year_33658",
            aws_sdk_dynamodb::types::AttributeValue::N("1e12".into()),
        )
        .send()
        .await
        .unwrap();
    // Every endpoint that reads the user (a regenerate only writes the token), each in its
    // family's 500.
    let v1 = (500, json!({"detail": "A server error occurred."}));
    let v3 = (
        500,
        json!({"data": null, "success": false, "errno": -200000, "error": "Internal server error"}),
    );
    for (endpoint, expected) in [(CurrentUser, &v1), (AccessToken, &v1), (AuthUser, &v3)] {
        let answer = parts(&endpoint.call(&test.app, &[bearer(&token)]).await);
        assert_eq!(&answer, expected, "{endpoint:?}");
    }
}
