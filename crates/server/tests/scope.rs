//! What a pull returns to whom: a technician's scope, the office's, paging, ownership moves and
//! the outbox a device reports.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use fieldsync_core::wire::OwnershipMove;
use fieldsync_core::{Group, Owner, RecordId, RecordType};
use fieldsync_server::store::DeviceInfo;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;

/// Two technicians' jobs with notes, parts, customers and an invoice, and a customer with no job.
struct World {
    tom_customer: RecordId,
    kai_customer: RecordId,
    lone_customer: RecordId,
    tom_job: RecordId,
    kai_job: RecordId,
    rita_job: RecordId,
    tom_note: RecordId,
    dispatch_note: RecordId,
    tom_part: RecordId,
    kai_note: RecordId,
    kai_part: RecordId,
    invoice: RecordId,
}

impl World {
    async fn build(p: &People) -> World {
        let tom_customer = p.olivia.new_customer("Harbour View").await;
        let kai_customer = p.olivia.new_customer("Northgate Bakery").await;
        let lone_customer = p.olivia.new_customer("Nobody's Diner").await;
        let tom_job = p.dana.new_job(tom_customer, "tom").await;
        let kai_job = p.dana.new_job(kai_customer, "kai").await;
        // Rita is in Tom's team, but her job is hers alone.
        let rita_job = p.dana.new_job(kai_customer, "rita").await;
        let tom_note = p.tom.new_note(tom_job, "valve seized").await;
        let dispatch_note = p.dana.new_note(tom_job, "gate code 4411").await;
        let tom_part = p.tom.new_part_line(tom_job, "TRV-15", 2).await;
        let kai_note = p.kai.new_note(kai_job, "tap fitted").await;
        let kai_part = p.kai.new_part_line(kai_job, "MX-2", 1).await;
        let invoice = new_id();
        p.fiona
            .apply(create(
                RecordType::Invoice,
                invoice,
                json!({"totals": {"job_id": tom_job.to_string(), "subtotal": 100.0, "tax": 20.0,
                                  "total": 120.0, "currency": "GBP"}}),
            ))
            .await;
        // A later change to Tom's customer is his to see too.
        p.olivia
            .apply(update(
                RecordType::Customer,
                tom_customer,
                Group::Profile,
                1,
                json!({"phone": "+44 20 7946 0101"}),
            ))
            .await;
        World {
            tom_customer,
            kai_customer,
            lone_customer,
            tom_job,
            kai_job,
            rita_job,
            tom_note,
            dispatch_note,
            tom_part,
            kai_note,
            kai_part,
            invoice,
        }
    }

    fn all(&self) -> BTreeSet<RecordId> {
        [
            self.tom_customer,
            self.kai_customer,
            self.lone_customer,
            self.tom_job,
            self.kai_job,
            self.rita_job,
            self.tom_note,
            self.dispatch_note,
            self.tom_part,
            self.kai_note,
            self.kai_part,
            self.invoice,
        ]
        .into()
    }
}

store_test!(a_technician_pulls_their_jobs_with_notes_parts_and_customers_only);
async fn a_technician_pulls_their_jobs_with_notes_parts_and_customers_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let w = World::build(&p).await;

    let tom = p.tom.pull_all().await;
    assert_eq!(
        record_ids(&tom),
        BTreeSet::from([
            w.tom_customer,
            w.tom_job,
            w.tom_note,
            w.dispatch_note,
            w.tom_part
        ])
    );
    assert!(tom
        .changes
        .iter()
        .all(|c| c.record_type != RecordType::Invoice));
    let profile_updates = tom
        .changes
        .iter()
        .filter(|c| c.record_id == w.tom_customer && c.group == Some(Group::Profile))
        .count();
    assert_eq!(profile_updates, 1);

    let kai = p.kai.pull_all().await;
    assert_eq!(
        record_ids(&kai),
        BTreeSet::from([w.kai_customer, w.kai_job, w.kai_note, w.kai_part])
    );
    let rita = p.rita.pull_all().await;
    assert_eq!(
        record_ids(&rita),
        BTreeSet::from([w.kai_customer, w.rita_job])
    );

    // Out of scope reads as missing, not as forbidden.
    for (t, id) in [
        (RecordType::Job, w.kai_job),
        (RecordType::Invoice, w.invoice),
        (RecordType::Customer, w.lone_customer),
        (RecordType::JobNote, w.kai_note),
    ] {
        let response = p
            .tom
            .get(&format!("/api/v1/records/{t}/{id}/history"))
            .await;
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(
        p.tom
            .history(RecordType::JobNote, w.dispatch_note)
            .await
            .record
            .record_id,
        w.dispatch_note
    );
}

store_test!(office_roles_pull_everything);
async fn office_roles_pull_everything(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let w = World::build(&p).await;
    let every = w.all();
    for who in p.office() {
        let pulled = who.pull_all().await;
        assert_eq!(record_ids(&pulled), every, "{}", who.user);
        assert_eq!(pulled.next, server.max_seq().await);
        assert!(!pulled.more);
    }
}

store_test!(paging_returns_every_change_exactly_once);
async fn paging_returns_every_change_exactly_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    World::build(&p).await;
    let newest = server.max_seq().await;

    for (who, limit) in [(&p.dana, 3), (&p.tom, 2), (&p.kai, 1)] {
        let whole = who
            .pull_with(&[("after", "0".into()), ("limit", "1000".into())])
            .await;
        assert!(!whole.more);
        let mut seqs = Vec::new();
        let mut after = 0;
        let mut pages = 0;
        loop {
            let page = who
                .pull_with(&[("after", after.to_string()), ("limit", limit.to_string())])
                .await;
            pages += 1;
            assert!(page.changes.len() <= limit, "{}", who.user);
            assert!(
                page.changes.iter().all(|c| c.seq > after),
                "oldest first, after the cursor"
            );
            seqs.extend(page.changes.iter().map(|c| c.seq));
            if page.more {
                assert_eq!(page.next, page.changes.last().unwrap().seq);
            } else {
                assert_eq!(
                    page.next, newest,
                    "an idle cursor keeps up with the newest seq"
                );
            }
            assert!(page.next >= after);
            after = page.next;
            if !page.more {
                break;
            }
            assert!(pages < 100, "paging never ends");
        }
        let whole_seqs: Vec<i64> = whole.changes.iter().map(|c| c.seq).collect();
        assert_eq!(
            seqs, whole_seqs,
            "{}: every change once, in order",
            who.user
        );
        assert!(pages > 1, "{}: more than one page", who.user);
        let unique: BTreeSet<i64> = seqs.iter().copied().collect();
        assert_eq!(unique.len(), seqs.len());
        // A pull at the end is empty and keeps the cursor.
        let end = who.pull(after).await;
        assert!(end.changes.is_empty() && !end.more);
        assert_eq!(end.next, after);
    }
}

store_test!(a_job_made_for_a_technician_brings_a_customer_they_pulled_past);
/// Found by the fleet simulation: a technician who pulled before the office made them a job
/// for an older customer had the customer's changes below their cursor and never got it.
async fn a_job_made_for_a_technician_brings_a_customer_they_pulled_past(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Old Mill Bakery").await;
    let cursor = p.tom.pull_all().await.next;
    let job = p.dana.new_job(customer, "tom").await;

    let page = p.tom.pull(cursor).await;
    assert!(page.changes.iter().any(|c| c.record_id == job));
    let snapshot = page
        .records
        .iter()
        .find(|r| r.record_id == customer)
        .expect("the job's customer comes with it");
    assert_eq!(
        snapshot.groups[&Group::Profile].values["name"],
        json!("Old Mill Bakery")
    );
    // The office pulls everything anyway: no snapshots for it.
    assert!(p.dana.pull(cursor).await.records.is_empty());
}

store_test!(a_part_line_that_moves_with_its_job_says_so_in_the_log);
/// Found by the fleet simulation: a reassignment moved the job's part lines to the new owner
/// (and a new epoch) without a word in the log, so the office's devices, which pulled them
/// before, showed them with their old owner for ever.
async fn a_part_line_that_moves_with_its_job_says_so_in_the_log(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let w = World::build(&p).await;
    let cursor = p.dana.pull_all().await.next;
    let response = p.dana.reassign(w.tom_job, "rita").await;
    assert_eq!(response.status(), StatusCode::OK);

    let page = p.dana.pull(cursor).await;
    let moved = page
        .changes
        .iter()
        .find(|c| c.record_id == w.tom_part)
        .expect("the part line's move is in the log");
    assert_eq!(moved.owner, Owner::User("rita".into()));
    assert_eq!(moved.owner_epoch, 2);
    assert_eq!(moved.version, 1, "the part line itself did not change");
    assert_eq!(moved.values["part_number"], json!("TRV-15"));
    // A note stays its author's: it does not move.
    assert!(page.changes.iter().all(|c| c.record_id != w.tom_note));
    assert!(page.changes.iter().any(|c| c.record_id == w.tom_part));
    let rita = p.rita.pull(0).await;
    assert!(rita
        .changes
        .iter()
        .any(|c| c.record_id == w.tom_part && c.owner == Owner::User("rita".into())));
}

store_test!(a_reassigned_job_arrives_whole_at_its_new_owner_and_leaves_the_old);
async fn a_reassigned_job_arrives_whole_at_its_new_owner_and_leaves_the_old(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let w = World::build(&p).await;
    let rita_cursor = p.rita.pull_all().await.next;
    let tom_cursor = p.tom.pull_all().await.next;

    let response = p.dana.reassign(w.tom_job, "rita").await;
    assert_eq!(response.status(), StatusCode::OK);

    let rita = p.rita.pull(rita_cursor).await;
    let snapshots: BTreeSet<RecordId> = rita.records.iter().map(|r| r.record_id).collect();
    assert_eq!(
        snapshots,
        BTreeSet::from([
            w.tom_job,
            w.tom_note,
            w.dispatch_note,
            w.tom_part,
            w.tom_customer
        ]),
        "the job with its notes, parts and customer, but not its invoice"
    );
    let job = rita
        .records
        .iter()
        .find(|r| r.record_id == w.tom_job)
        .unwrap();
    assert_eq!(job.owner, Owner::User("rita".into()));
    assert_eq!(job.owner_epoch, 2);
    assert_eq!(
        job.groups[&Group::Schedule].values["assignee"],
        json!("rita")
    );
    let expected_move = |m: &OwnershipMove| {
        m.record_id == w.tom_job
            && m.from == Owner::User("tom".into())
            && m.to == Owner::User("rita".into())
            && m.owner_epoch == 2
            && m.by == "dana"
    };
    assert!(rita.ownership.iter().any(expected_move));
    assert!(rita
        .changes
        .iter()
        .any(|c| c.record_id == w.tom_job && c.group == Some(Group::Schedule)));

    let tom = p.tom.pull(tom_cursor).await;
    assert_eq!(tom.ownership.len(), 1);
    assert!(expected_move(&tom.ownership[0]));
    assert!(tom.records.is_empty(), "the old owner gains nothing");
    assert!(tom.changes.iter().all(|c| c.record_id != w.tom_job));
    // Tom's whole scope no longer has the job; Rita's has it from the start.
    assert!(!record_ids(&p.tom.pull_all().await).contains(&w.tom_job));
    assert!(record_ids(&p.rita.pull_all().await).contains(&w.tom_job));
    // Kai is told nothing of it.
    assert!(p.kai.pull(0).await.ownership.is_empty());
}

store_test!(a_pull_reports_the_outbox_and_the_office_sees_it_on_the_device_list);
async fn a_pull_reports_the_outbox_and_the_office_sees_it_on_the_device_list(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    server.clock.advance(Duration::hours(2));
    let oldest = start_time() - Duration::hours(3);
    p.tom
        .pull_with(&[
            ("after", "0".into()),
            ("outbox_depth", "3".into()),
            ("oldest_pending", oldest.to_rfc3339()),
        ])
        .await;

    let response = p.dana.get("/api/v1/devices").await;
    assert_eq!(response.status(), StatusCode::OK);
    let devices: Vec<DeviceInfo> = response.json().await.unwrap();
    assert_eq!(devices.len(), 8, "one device per person");
    let tablet = devices
        .iter()
        .find(|d| d.device_id == p.tom.device_id)
        .unwrap();
    assert_eq!(tablet.user, "tom");
    assert_eq!(tablet.name, "tom's device");
    assert_eq!(tablet.team.as_deref(), Some("north"));
    assert_eq!(tablet.outbox_depth, Some(3));
    assert_eq!(tablet.oldest_pending, Some(oldest));
    assert_eq!(tablet.last_pull_seq, Some(0));
    assert_eq!(tablet.last_seen, Some(start_time() + Duration::hours(2)));
    let rita = devices.iter().find(|d| d.user == "rita").unwrap();
    assert_eq!(rita.outbox_depth, None, "rita has not pulled");
    assert_eq!(rita.last_seen, Some(start_time()), "seen at sign-in");

    // The next pull with an empty outbox says so.
    p.tom
        .pull_with(&[("after", "0".into()), ("outbox_depth", "0".into())])
        .await;
    let devices: Vec<DeviceInfo> = p.sam.get("/api/v1/devices").await.json().await.unwrap();
    let tablet = devices
        .iter()
        .find(|d| d.device_id == p.tom.device_id)
        .unwrap();
    assert_eq!(tablet.outbox_depth, Some(0));
    assert_eq!(tablet.oldest_pending, None);
}

store_test!(a_job_moved_to_a_technician_and_away_again_before_they_pull_is_not_theirs);
async fn a_job_moved_to_a_technician_and_away_again_before_they_pull_is_not_theirs(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let note = p.tom.new_note(job, "alarm code 1234").await;
    let rita_cursor = p.rita.pull_all().await.next;

    for to in ["rita", "kai"] {
        assert_eq!(p.dana.reassign(job, to).await.status(), StatusCode::OK);
    }
    let rita = p.rita.pull(rita_cursor).await;
    assert_eq!(rita.ownership.len(), 2, "both moves concern her");
    assert!(
        rita.records.is_empty(),
        "the job is Kai's now: {:?}",
        rita.records
    );
    assert!(!record_ids(&rita).contains(&note));

    // Moved to her, away, and back: one snapshot of each record, not two.
    assert_eq!(p.dana.reassign(job, "rita").await.status(), StatusCode::OK);
    let rita = p.rita.pull(rita_cursor).await;
    let ids: Vec<RecordId> = rita.records.iter().map(|r| r.record_id).collect();
    let unique: BTreeSet<RecordId> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "{ids:?}");
    assert_eq!(unique, BTreeSet::from([job, note, customer]));
}

store_test!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    pulling_while_others_push_misses_nothing
);
async fn pulling_while_others_push_misses_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    let dana = p.dana.clone();
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            let change = update(
                RecordType::Job,
                job,
                Group::Description,
                1,
                json!({"summary": format!("take {i}")}),
            );
            dana.apply(change).await;
        }
    });
    let mut seen = Vec::new();
    let mut after = 0;
    for round in 0.. {
        assert!(round < 100_000, "the pulls never caught up");
        let finished = writer.is_finished();
        let page = p
            .tom
            .pull_with(&[("after", after.to_string()), ("limit", "3".into())])
            .await;
        seen.extend(page.changes.iter().map(|c| c.seq));
        after = page.next;
        if finished && !page.more {
            break;
        }
    }
    writer.await.unwrap();
    let whole: Vec<i64> = p.tom.pull(0).await.changes.iter().map(|c| c.seq).collect();
    assert_eq!(whole.len(), 42, "the customer, the job and 40 updates");
    assert_eq!(
        seen, whole,
        "every change once, in order, although commits landed meanwhile"
    );
}
