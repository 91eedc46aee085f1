//! Match before create: before a new job is made, the device looks through its drafts, its
//! pending creates and its recent jobs for the same customer and site on the same day, or a
//! similar summary, and offers what it found in plain words.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use fieldsync_client::matching::{JobCandidate, MatchSource};
use fieldsync_core::RecordType;
use serde_json::json;

fn candidate(
    customer: fieldsync_core::RecordId,
    site: &str,
    at: chrono::DateTime<chrono::Utc>,
    summary: &str,
) -> JobCandidate {
    JobCandidate {
        customer_id: customer.to_string(),
        site: site.into(),
        window_start: Some(at.to_rfc3339()),
        summary: summary.into(),
        draft_id: None,
    }
}

#[tokio::test]
async fn a_recent_job_a_pending_create_and_a_draft_are_each_offered() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "12 Mill Lane").await;
    let tom = harness.device("tom", "tom's phone", 60).await;
    tom.client.sync_once().await.unwrap();
    let today = harness.now();

    // A recent job: the dispatcher's, pulled ten minutes ago.
    harness.advance(Duration::minutes(10));
    let found = tom
        .client
        .find_matches(&candidate(
            setup.customer,
            " 12  mill lane",
            today + Duration::hours(2),
            "",
        ))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].source, MatchSource::RecentJob);
    assert_eq!(found[0].id, setup.job.to_string());
    assert_eq!(found[0].number.as_deref(), Some(setup.number.as_str()));
    assert_eq!(
        found[0].message,
        format!("This looks like {}, opened 10 minutes ago", setup.number)
    );

    // A pending create: Tom made a job at another site, offline, five minutes ago.
    harness.proxy.go_down();
    let pending = tom.client.new_record_id();
    tom.save(create(
        RecordType::Job,
        pending,
        job_values(setup.customer, "Pier 4", "tom", today),
    ))
    .await;
    harness.advance(Duration::minutes(5));
    let pier = candidate(setup.customer, "pier 4", today, "");
    let found = tom.client.find_matches(&pier).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].source, MatchSource::PendingCreate);
    assert_eq!(found[0].id, pending.to_string());
    assert_eq!(found[0].number, None);
    assert_eq!(
        found[0].message,
        "This looks like the job you saved on this device 5 minutes ago (not yet synced)"
    );

    // A draft, saved two hours ago, with a summary much like the new one.
    tom.client
        .cache()
        .save_draft(
            "draft-1",
            RecordType::Job,
            &json!({
                "schedule": {"customer_id": setup.customer.to_string(), "site": "Old Quay"},
                "description": {"summary": "Replace boiler pressure valve in the basement"},
            }),
            harness.now() - Duration::hours(2),
        )
        .await
        .unwrap();
    let quay = candidate(
        setup.customer,
        "Somewhere else",
        today + Duration::days(3),
        "replace the boiler pressure valve (basement)",
    );
    let found = tom.client.find_matches(&quay).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].source, MatchSource::Draft);
    assert_eq!(found[0].id, "draft-1");
    assert_eq!(
        found[0].message,
        "This looks like your draft from 2 hours ago"
    );
    // The form being typed into that draft is not its own duplicate.
    let same_form = JobCandidate {
        draft_id: Some("draft-1".into()),
        ..quay.clone()
    };
    assert!(tom
        .client
        .find_matches(&same_form)
        .await
        .unwrap()
        .is_empty());
    // A draft that became a job is kept, and no longer offered.
    tom.client
        .cache()
        .close_draft("draft-1", "a job")
        .await
        .unwrap();
    assert!(tom.client.find_matches(&quay).await.unwrap().is_empty());
    assert!(tom
        .client
        .cache()
        .drafts(RecordType::Job)
        .await
        .unwrap()
        .is_empty());

    // Once the pending create is accepted it is offered by its number.
    harness.proxy.come_back();
    tom.client.sync_once().await.unwrap();
    let number = tom
        .client
        .record(pending)
        .await
        .unwrap()
        .unwrap()
        .record
        .number
        .unwrap();
    harness.advance(Duration::minutes(30));
    let found = tom.client.find_matches(&pier).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].source, MatchSource::RecentJob);
    assert_eq!(
        found[0].message,
        format!("This looks like {number}, opened 35 minutes ago")
    );
}

#[tokio::test]
async fn nothing_is_offered_for_another_customer_another_day_or_a_voided_job() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Abbey Mews").await;
    let olivia = harness.api("olivia").await;
    let other_customer = olivia.new_customer("Other Ltd").await;
    let tom = harness.device("tom", "tom's phone", 61).await;
    tom.client.sync_once().await.unwrap();
    let today = harness.now();

    let rows = [
        (
            "another customer, same site and day",
            candidate(other_customer, "Abbey Mews", today, ""),
        ),
        (
            "same site, another day",
            candidate(setup.customer, "Abbey Mews", today + Duration::days(1), ""),
        ),
        (
            "another site, unlike summary",
            candidate(setup.customer, "Town Hall", today, "paint the railings"),
        ),
    ];
    for (why, c) in &rows {
        assert!(
            tom.client.find_matches(c).await.unwrap().is_empty(),
            "{why}"
        );
    }
    // A like summary at another site is offered; a voided job is not.
    let like = candidate(
        setup.customer,
        "Town Hall",
        today,
        "boiler service at Abbey Mews",
    );
    assert_eq!(tom.client.find_matches(&like).await.unwrap().len(), 1);
    let dana_desk = harness.device("dana", "dana's desktop", 62).await;
    dana_desk.client.sync_once().await.unwrap();
    dana_desk
        .save(fieldsync_client::NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: setup.job,
            group: Some(fieldsync_core::Group::Status),
            op: fieldsync_core::Op::Void,
            values: json!({"reason": "entered twice"}),
            file_sha256: None,
        })
        .await;
    dana_desk.client.sync_once().await.unwrap();
    tom.client.sync_once().await.unwrap();
    let same = candidate(setup.customer, "Abbey Mews", today, "");
    assert!(tom.client.find_matches(&same).await.unwrap().is_empty());
}
