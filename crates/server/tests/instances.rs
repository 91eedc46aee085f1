//! Several server instances on one PostgreSQL database, as behind a load balancer: races
//! between instances are decided by the database (one applied and the rest held, a change
//! applied once whichever instances it reaches, numbers never twice, pulls that miss nothing),
//! pokes cross instances, and an instance that loses its database answers 503 and recovers.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::wire::{Outcome, OutcomeStatus};
use fieldsync_core::{Group, RecordId, RecordType};
use fieldsync_server::PgOptions;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

/// Three instances on one database, everyone signed in through the first.
async fn three_instances() -> (TestServer, TestServer, TestServer, People) {
    let a = TestServer::start(Backend::Postgres).await;
    let b = a.another_instance().await;
    let c = a.another_instance().await;
    let people = a.everyone().await;
    (a, b, c, people)
}

fn note(job: RecordId, text: &str) -> fieldsync_core::Change {
    create(
        RecordType::JobNote,
        new_id(),
        json!({"text": {"job_id": job.to_string(), "text": text}}),
    )
}

/// Two answers to one change agree on everything but which of them was the replay.
fn assert_agree(x: &Outcome, y: &Outcome) {
    assert_eq!(
        (x.status, x.version, x.seq, &x.number, x.review_id, &x.code),
        (y.status, y.version, y.seq, &y.number, y.review_id, &y.code),
        "{x:?} vs {y:?}"
    );
    assert_eq!(
        [x.replayed, y.replayed].iter().filter(|r| !**r).count(),
        1,
        "exactly one answer is the change's first judgement: {x:?} vs {y:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_change_sent_to_two_instances_at_once_is_applied_once_and_both_answers_agree() {
    let (a, b, _c, p) = three_instances().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let (tom_a, tom_b) = (p.tom.clone(), p.tom.via(&b));
    let (dana_a, dana_b) = (p.dana.clone(), p.dana.via(&b));

    let mut sent = Vec::new();
    for round in 0..12 {
        // A device whose reply was lost sends again, and the retry reaches another instance
        // while the first is still judging.
        let created = note(job, &format!("note {round}"));
        let (x, y) = tokio::join!(
            tom_a.push_one(created.clone()),
            tom_b.push_one(created.clone())
        );
        assert_eq!(x.status, OutcomeStatus::Applied);
        assert_agree(&x, &y);
        sent.push(created.change_id);

        let edit = update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"summary": format!("take {round}")}),
        );
        let (x, y) = tokio::join!(dana_b.push_one(edit.clone()), dana_a.push_one(edit.clone()));
        assert_eq!(x.status, OutcomeStatus::Applied);
        assert_agree(&x, &y);
        sent.push(edit.change_id);
    }

    // Each change is in the log once.
    let pulled = p.sam.pull_all().await;
    let mut counts: BTreeMap<_, usize> = BTreeMap::new();
    for change in &pulled.changes {
        *counts.entry(change.change_id).or_default() += 1;
    }
    for id in &sent {
        assert_eq!(counts.get(id), Some(&1), "change {id} logged once");
    }
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.groups[&Group::Description].version, 13);
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn colliding_manual_review_changes_on_three_instances_give_one_applied_and_the_rest_held() {
    let (a, b, c, p) = three_instances().await;
    let phone = a.login_device("tom", "Tom's phone").await.via(&b);
    let laptop = a.login_device("sam", "Supervisor laptop").await.via(&c);
    let customer = p.olivia.new_customer("Harbour View").await;

    for round in 0..6 {
        let job = p.dana.new_job(customer, "tom").await;
        // Three different moves, each allowed from where the job stands (a sign-off would lock
        // the job for the others: that is the lifecycle's rule, not a collision).
        let attempts = [
            (p.tom.clone(), "opened"),
            (phone.clone(), "in_progress"),
            (laptop.clone(), "paused"),
        ];
        let outcomes = join_all(
            attempts
                .iter()
                .map(|(who, state)| who.push_one(status(job, 1, state))),
        )
        .await;
        let applied: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.status == OutcomeStatus::Applied)
            .collect();
        assert_eq!(applied.len(), 1, "round {round}: {outcomes:?}");
        assert_eq!(applied[0].version, Some(2));
        assert!(
            outcomes
                .iter()
                .filter(|o| o.status != OutcomeStatus::Applied)
                .all(|o| o.status == OutcomeStatus::Held && o.code.as_deref() == Some("conflict")),
            "round {round}: {outcomes:?}"
        );
        let history = p.dana.history(RecordType::Job, job).await;
        assert_eq!(history.record.groups[&Group::Status].version, 2);
        assert!(history.record.groups[&Group::Status].contested);
        let inbox = p.sam.via(&c).review().await;
        assert_eq!(
            inbox.iter().filter(|i| i.record_id == job).count(),
            attempts.len() - 1,
            "every collision is in the review inbox"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn last_write_wins_on_two_instances_applies_both_in_seq_order() {
    let (_a, b, _c, p) = three_instances().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    for round in 0..6 {
        let job = p.dana.new_job(customer, "tom").await;
        let from_office = update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"summary": format!("office {round}")}),
        );
        let from_field = update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"summary": format!("field {round}")}),
        );
        let tom_b = p.tom.via(&b);
        let (x, y) = tokio::join!(
            p.dana.push_one(from_office.clone()),
            tom_b.push_one(from_field.clone())
        );
        assert_eq!(
            (x.status, y.status),
            (OutcomeStatus::Applied, OutcomeStatus::Applied)
        );
        let versions = BTreeSet::from([x.version.unwrap(), y.version.unwrap()]);
        assert_eq!(versions, BTreeSet::from([2, 3]), "never a lost update");
        let (last, last_change) = if x.seq > y.seq {
            (&x, &from_office)
        } else {
            (&y, &from_field)
        };
        assert_eq!(
            last.version,
            Some(3),
            "server order decides: the later seq is the newer version"
        );
        let history = p.dana.history(RecordType::Job, job).await;
        assert_eq!(
            history.record.groups[&Group::Description].values,
            last_change.values
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn human_numbers_are_never_given_twice_across_instances() {
    let (a, b, c, p) = three_instances().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let mut devices = Vec::new();
    for (i, server) in [&a, &b, &c].into_iter().enumerate() {
        for d in 0..2 {
            devices.push(
                a.login_device("tom", &format!("tablet {i}.{d}"))
                    .await
                    .via(server),
            );
        }
    }
    let pushes = devices.iter().map(|device| async move {
        let mut numbers = Vec::new();
        for batch in 0..5 {
            let changes = (0..20)
                .map(|n| note(job, &format!("{} batch {batch} note {n}", device.device_id)))
                .collect();
            for outcome in device.push(changes).await {
                assert_eq!(outcome.status, OutcomeStatus::Applied, "{outcome:?}");
                numbers.push(outcome.number.unwrap());
            }
        }
        numbers
    });
    let numbers: Vec<String> = join_all(pushes).await.into_iter().flatten().collect();
    let unique: BTreeSet<&String> = numbers.iter().collect();
    assert_eq!(numbers.len(), 6 * 5 * 20);
    assert_eq!(unique.len(), numbers.len(), "a human number given twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pulls_through_any_instance_miss_nothing_while_every_instance_takes_pushes() {
    let (a, b, c, p) = three_instances().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let tom_phone = a.login_device("tom", "Tom's phone").await.via(&c);

    let writers = vec![
        {
            let dana = p.dana.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    dana.apply(update(
                        RecordType::Job,
                        job,
                        Group::Description,
                        1,
                        json!({"summary": format!("take {i}")}),
                    ))
                    .await;
                }
            })
        },
        {
            let tom = p.tom.via(&b);
            tokio::spawn(async move {
                for i in 0..25 {
                    tom.push(vec![
                        note(job, &format!("b {i}.1")),
                        note(job, &format!("b {i}.2")),
                    ])
                    .await;
                }
            })
        },
        {
            let phone = tom_phone.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    phone.apply(note(job, &format!("c {i}"))).await;
                }
            })
        },
    ];

    // An office device and the technician page through while the writes land, each page from
    // another instance.
    let readers = [p.sam.clone(), p.tom.clone()];
    let instances = [&a, &b, &c];
    let mut seen: Vec<Vec<i64>> = vec![Vec::new(); readers.len()];
    let mut cursors = vec![0i64; readers.len()];
    let mut round = 0usize;
    loop {
        assert!(round < 100_000, "the pulls never caught up");
        let finished = writers.iter().all(|w| w.is_finished());
        let mut caught_up = true;
        for (r, reader) in readers.iter().enumerate() {
            let page = reader
                .via(instances[(round + r) % 3])
                .pull_with(&[("after", cursors[r].to_string()), ("limit", "7".into())])
                .await;
            seen[r].extend(page.changes.iter().map(|c| c.seq));
            cursors[r] = page.next;
            caught_up &= !page.more;
        }
        round += 1;
        if finished && caught_up {
            break;
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    for (r, reader) in readers.iter().enumerate() {
        let whole: Vec<i64> = reader
            .pull_all()
            .await
            .changes
            .iter()
            .map(|c| c.seq)
            .collect();
        assert_eq!(
            whole.len(),
            2 + 25 + 50 + 25,
            "the customer, the job and 100 changes"
        );
        assert_eq!(
            seen[r], whole,
            "{}: every change once, in order, although commits landed meanwhile",
            reader.user
        );
    }
}

#[tokio::test]
async fn a_change_through_one_instance_pokes_devices_connected_to_another() {
    let (a, b, _c, p) = three_instances().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    a.database.as_ref().unwrap().wait_for_listeners(3).await;
    let mut on_b = p.tom.via(&b).events().await;
    assert_eq!(on_b.next_poke(DEADLINE).await, a.max_seq().await);
    let outcome = p
        .dana
        .apply(update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"summary": "bring a ladder"}),
        ))
        .await;
    assert_eq!(on_b.next_poke(DEADLINE).await, outcome.seq.unwrap());
    // B's own changes poke its devices once, not once more when its own notice comes back.
    let mine = p.tom.via(&b).apply(note(job, "on my way")).await;
    assert_eq!(on_b.next_poke(DEADLINE).await, mine.seq.unwrap());
    let next = p.dana.apply(note(job, "customer called")).await;
    assert_eq!(on_b.next_poke(DEADLINE).await, next.seq.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_loses_its_database_answers_503_and_recovers_and_pokes_its_devices() {
    let a = TestServer::start_setup(Setup {
        proxied: true,
        pg: PgOptions {
            acquire_timeout: Duration::from_secs(1),
            ..PgOptions::default()
        },
        ..Setup::new(Backend::Postgres)
    })
    .await;
    let b = a.another_instance().await;
    let p = a.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let mut events = p.tom.events().await;
    events.next_poke(DEADLINE).await;

    let proxy = a.proxy.clone().unwrap();
    proxy.cut();
    // While its database is away, instance A says so, with when to try again.
    let push = p
        .dana
        .request(Method::POST, "/api/v1/sync/push")
        .json(&json!({"changes": [note(job, "lost?")]}))
        .send()
        .await
        .unwrap();
    let retry_after = push.headers().get("retry-after").cloned();
    expect_error(push, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(retry_after.is_some(), "503 carries Retry-After");
    let health = a.anonymous(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Another instance still works; what it commits now, A does not hear of.
    let meanwhile = p
        .dana
        .via(&b)
        .apply(note(job, "written through B during the outage"))
        .await;

    proxy.restore();
    let started = Instant::now();
    loop {
        let health = a.anonymous(Method::GET, "/healthz").send().await.unwrap();
        if health.status() == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "A did not recover: {}",
            health.status()
        );
        tokio::task::yield_now().await;
    }
    // A listens again and tells its devices to pull: nothing written meanwhile is missed.
    loop {
        let seq = events.next_poke(DEADLINE).await;
        if seq >= meanwhile.seq.unwrap() {
            break;
        }
    }
    let pulled = p.tom.pull_all().await;
    assert!(pulled
        .changes
        .iter()
        .any(|c| c.seq == meanwhile.seq.unwrap()));
    p.dana.apply(note(job, "and A takes pushes again")).await;
}
