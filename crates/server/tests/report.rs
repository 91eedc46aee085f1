//! The weekly sync review (`GET /api/v1/report`): every possible duplicate, conflict, void vs
//! update, rejection, ownership-moved hold and slow change of a period, made by real pushes, per
//! device and per rule; office roles only.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use fieldsync_core::wire::{OutcomeStatus, ReportCause, ReportEvent, ReportKind, SyncReport};
use fieldsync_core::{Change, Group, RecordType, Role};
use fieldsync_server::Clock;
use reqwest::StatusCode;
use serde_json::json;

/// A change as its device saved it at `at` (the device's own time).
fn saved_at(mut change: Change, at: DateTime<Utc>) -> Change {
    change.device_time = at;
    change
}

async fn report_of(client: &Client, query: &[(&str, String)]) -> SyncReport {
    let response = client
        .request(reqwest::Method::GET, "/api/v1/report")
        .query(query)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "report for {}: {text}", client.user);
    serde_json::from_str(&text).unwrap()
}

fn since(at: DateTime<Utc>) -> Vec<(&'static str, String)> {
    vec![("since", at.to_rfc3339())]
}

/// The one event of a kind, insisting there is exactly one.
fn only(report: &SyncReport, kind: ReportKind) -> &ReportEvent {
    let found: Vec<&ReportEvent> = report.events.iter().filter(|e| e.kind == kind).collect();
    assert_eq!(found.len(), 1, "one {kind:?} in {:#?}", report.events);
    found[0]
}

store_test!(every_kind_of_event_of_the_period_is_reported_per_device_and_rule);
async fn every_kind_of_event_of_the_period_is_reported_per_device_and_rule(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let tablet = server.login_device("tom", "Tom's tablet").await;
    let customer = p.olivia.new_customer("Harbour View").await;

    // Before the period: a refusal eight days ago stays out of a seven-day report.
    let old_job = p.dana.new_job(customer, "tom").await;
    let old = p.rita.push_one(status(old_job, 1, "opened")).await;
    assert_eq!(old.status, OutcomeStatus::Rejected);
    server.clock.advance(Duration::days(8));
    let period_start = server.clock.now() - Duration::days(7);
    let now = || server.clock.now();

    // A conflict: the supervisor changed the status while Tom, offline, changed it too.
    let job = p.dana.new_job(customer, "tom").await;
    p.sam
        .apply(saved_at(status(job, 1, "in_progress"), now()))
        .await;
    let conflict = tablet
        .push_one(saved_at(status(job, 1, "opened"), now()))
        .await;
    assert_eq!(conflict.status, OutcomeStatus::Held);

    // A void that meets an update.
    let voided = p.dana.new_job(customer, "tom").await;
    p.dana
        .apply(saved_at(
            void(RecordType::Job, voided, 1, "customer cancelled"),
            now(),
        ))
        .await;
    let void_vs_update = tablet
        .push_one(saved_at(status(voided, 1, "in_progress"), now()))
        .await;
    assert_eq!(void_vs_update.code.as_deref(), Some("void_vs_update"));

    // A refusal: Rita writes on Tom's job.
    let refused = p
        .rita
        .push_one(saved_at(
            update(
                RecordType::Job,
                job,
                Group::Description,
                1,
                json!({"summary": "rita's words"}),
            ),
            now(),
        ))
        .await;
    assert_eq!(refused.status, OutcomeStatus::Rejected);
    let refused_code = refused.code.clone().unwrap();

    // An edit made under the owner Tom had before the job moved to Rita.
    let moved = p.dana.new_job(customer, "tom").await;
    assert_eq!(
        p.dana.reassign(moved, "rita").await.status(),
        StatusCode::OK
    );
    let held = tablet
        .push_one(saved_at(status(moved, 1, "in_progress"), now()))
        .await;
    assert_eq!(held.code.as_deref(), Some("ownership_moved"));

    // A possible duplicate: Tom opens a job for a call dispatch already booked.
    let morning = now() + Duration::hours(1);
    let booked = p
        .dana
        .new_job_at(customer, "12 Harbour Rd", "tom", morning)
        .await;
    let booked_number = p.dana.history(RecordType::Job, booked).await.record.number;
    let duplicate_id = new_id();
    let duplicate = tablet
        .push_one(saved_at(
            create(
                RecordType::Job,
                duplicate_id,
                job_values(customer, "12 Harbour Rd", None, morning),
            ),
            now(),
        ))
        .await;
    assert_eq!(duplicate.flags, ["possible_duplicate"]);

    // A slow change: saved on the tablet three hours ago, synced now. Another, ten minutes
    // late, is not slow at the default threshold of an hour.
    let slow = saved_at(
        update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"summary": "written offline"}),
        ),
        now() - Duration::hours(3),
    );
    tablet.apply(slow.clone()).await;
    let late = saved_at(
        update(
            RecordType::Job,
            job,
            Group::Description,
            2,
            json!({"summary": "written in the van"}),
        ),
        now() - Duration::minutes(10),
    );
    tablet.apply(late.clone()).await;
    let job_number = p.dana.history(RecordType::Job, job).await.record.number;

    let report = report_of(&p.dana, &since(period_start)).await;
    assert_eq!(report.since, period_start);
    assert_eq!(report.until, now());
    assert_eq!(report.slow_secs, 3600);
    assert_eq!(report.events.len(), 6, "{:#?}", report.events);
    for kind in ReportKind::ALL {
        assert_eq!(report.totals.get(kind), 1, "{kind:?}");
    }
    assert_eq!(report.totals.total, 6);

    let e = only(&report, ReportKind::Conflict);
    assert_eq!((e.record_type, e.record_id), (RecordType::Job, job));
    assert_eq!(e.number, job_number);
    assert_eq!(e.group, Some(Group::Status));
    assert_eq!(e.rule, "manual_review");
    assert_eq!(e.cause, ReportCause::ConflictRule);
    assert_eq!(e.author, "tom");
    assert_eq!(e.device_id, Some(tablet.device_id));
    assert_eq!(e.device_name.as_deref(), Some("Tom's tablet"));
    assert_eq!(e.device_user.as_deref(), Some("tom"));
    assert_eq!(e.review_id, conflict.review_id);
    assert_eq!(e.review_state.as_deref(), Some("open"));
    assert_eq!(e.server_time, now());

    let e = only(&report, ReportKind::VoidVsUpdate);
    assert_eq!(e.record_id, voided);
    assert_eq!(e.rule, "manual_review");
    assert_eq!(e.cause, ReportCause::ConflictRule);

    let e = only(&report, ReportKind::Rejected);
    assert_eq!(e.record_id, job);
    assert_eq!(e.author, "rita");
    assert_eq!(e.device_name.as_deref(), Some("rita's device"));
    assert_eq!(e.code.as_deref(), Some(refused_code.as_str()));
    assert_eq!(e.rule, refused_code);
    assert_eq!(e.cause, ReportCause::Ownership);
    assert!(e.message.as_deref().is_some_and(|m| !m.is_empty()));

    let e = only(&report, ReportKind::OwnershipMoved);
    assert_eq!(e.record_id, moved);
    assert_eq!(e.rule, "ownership_moved");
    assert_eq!(e.cause, ReportCause::Ownership);
    assert_eq!(e.review_id, held.review_id);

    let e = only(&report, ReportKind::PossibleDuplicate);
    assert_eq!(e.record_id, duplicate_id);
    assert_eq!(e.number, duplicate.number);
    assert_eq!(e.matched_number, booked_number);
    assert_eq!(e.rule, "duplicate_match");
    assert_eq!(e.cause, ReportCause::Duplicate);

    let e = only(&report, ReportKind::SlowChange);
    assert_eq!(e.change_id, slow.change_id);
    assert_eq!(e.delay_secs, 3 * 3600);
    assert_eq!(e.device_time, slow.device_time);
    assert_eq!(e.rule, "sync_delay");
    assert_eq!(e.cause, ReportCause::RetryTiming);

    // Per device: five on Tom's tablet, one on Rita's phone, most first.
    let devices: Vec<(Option<&str>, i64)> = report
        .devices
        .iter()
        .map(|d| (d.device_name.as_deref(), d.counts.total))
        .collect();
    assert_eq!(
        devices,
        [(Some("Tom's tablet"), 5), (Some("rita's device"), 1)]
    );
    assert_eq!(report.devices[0].counts.rejected, 0);
    assert_eq!(report.devices[1].counts.rejected, 1);

    // Per rule: the conflict rule held two; ownership, duplicates and timing one each.
    let rule = |name: &str| {
        report
            .rules
            .iter()
            .find(|r| r.rule == name)
            .unwrap_or_else(|| panic!("no rule {name} in {:#?}", report.rules))
    };
    assert_eq!(report.rules[0].rule, "manual_review");
    assert_eq!(rule("manual_review").counts.conflict, 1);
    assert_eq!(rule("manual_review").counts.void_vs_update, 1);
    assert_eq!(rule("manual_review").cause, ReportCause::ConflictRule);
    assert_eq!(rule("ownership_moved").counts.ownership_moved, 1);
    assert_eq!(rule(&refused_code).counts.rejected, 1);
    assert_eq!(rule("duplicate_match").counts.possible_duplicate, 1);
    assert_eq!(rule("sync_delay").counts.slow_change, 1);
    assert_eq!(report.rules.len(), 5);

    // Newest first; a lower threshold makes the ten-minute change slow too.
    assert!(report
        .events
        .windows(2)
        .all(|w| w[0].server_time >= w[1].server_time));
    let mut query = since(period_start);
    query.push(("slow_secs", "300".into()));
    let stricter = report_of(&p.sam, &query).await;
    let slow_ids: Vec<_> = stricter
        .events
        .iter()
        .filter(|e| e.kind == ReportKind::SlowChange)
        .map(|e| e.change_id)
        .collect();
    assert_eq!(slow_ids.len(), 2);
    assert!(slow_ids.contains(&late.change_id) && slow_ids.contains(&slow.change_id));

    // A resolution shows in the item's state; the period before excludes it all.
    p.sam
        .resolve(conflict.review_id.unwrap(), json!({"choice": "current"}))
        .await;
    let after = report_of(&p.dana, &since(period_start)).await;
    assert_eq!(
        only(&after, ReportKind::Conflict).review_state.as_deref(),
        Some("resolved")
    );
    let earlier = report_of(
        &p.dana,
        &[
            ("since", (period_start - Duration::days(7)).to_rfc3339()),
            ("until", period_start.to_rfc3339()),
        ],
    )
    .await;
    assert_eq!(earlier.events.len(), 1, "{:#?}", earlier.events);
    assert_eq!(earlier.events[0].kind, ReportKind::Rejected);
    assert_eq!(earlier.events[0].record_id, old_job);
}

store_test!(the_report_is_for_office_roles_and_says_what_is_wrong_with_a_query);
async fn the_report_is_for_office_roles_and_says_what_is_wrong_with_a_query(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let week_ago = server.clock.now() - Duration::days(7);
    for client in p.office() {
        let empty = report_of(client, &since(week_ago)).await;
        assert!(empty.events.is_empty() && empty.devices.is_empty() && empty.rules.is_empty());
        assert_eq!(empty.totals.total, 0);
    }
    let get = |client: &Client, query: Vec<(&'static str, String)>| {
        client
            .request(reqwest::Method::GET, "/api/v1/report")
            .query(&query)
            .send()
    };
    let technician = p.by_role(Role::Technician);
    expect_error(
        get(technician, since(week_ago)).await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        server
            .anonymous(reqwest::Method::GET, "/api/v1/report")
            .query(&since(week_ago))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    for query in [
        vec![],
        vec![("since", "last tuesday".to_string())],
        vec![(
            "since",
            (server.clock.now() + Duration::hours(1)).to_rfc3339(),
        )],
        vec![
            ("since", week_ago.to_rfc3339()),
            ("slow_secs", "0".to_string()),
        ],
        vec![
            ("since", week_ago.to_rfc3339()),
            ("until", (week_ago - Duration::days(1)).to_rfc3339()),
        ],
    ] {
        expect_error(
            get(&p.dana, query).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
}
