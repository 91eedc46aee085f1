//! The demo's people and data: a user for every role (all with the demo password), customers,
//! jobs in every lifecycle state, invoices and a status conflict, seeded through the API as the
//! people themselves would; and a seeded server on loopback, for `fieldsync demo` and for the
//! field simulator (`field.rs`).

use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use fieldsync_core::{Group, Op, Policy, RecordId, RecordType, Role, State};
use fieldsync_server::auth::hash_password;
use fieldsync_server::store::{NewUser, Store};
use fieldsync_server::{AppState, Limits, SqliteStore, SystemClock};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

use crate::http::{change, new_record_id, Session};

pub const DEMO_PASSWORD: &str = "fieldsync-demo";

/// The demo's people: (name, display name, role, team).
pub const DEMO_USERS: [(&str, &str, Role, &str); 8] = [
    ("dana", "Dana Reyes", Role::Dispatcher, "dispatch"),
    ("sam", "Sam Okafor", Role::Supervisor, "supervisors"),
    ("fiona", "Fiona Marsh", Role::Finance, "finance"),
    ("olivia", "Olivia Chen", Role::Office, "office"),
    ("tom", "Tom Baker", Role::Technician, "north"),
    ("rita", "Rita Alvarez", Role::Technician, "north"),
    ("kai", "Kai Lindqvist", Role::Technician, "south"),
    ("ada", "Ada Novak", Role::Admin, "ops"),
];

pub async fn add_users(store: &dyn Store) -> Result<()> {
    let now = Utc::now();
    for (name, display, role, team) in DEMO_USERS {
        let hash = hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?;
        store
            .add_user(
                NewUser {
                    name: name.into(),
                    display_name: display.into(),
                    role,
                    team: Some(team.into()),
                    password_hash: hash,
                },
                now,
            )
            .await?;
    }
    Ok(())
}

struct Job {
    id: RecordId,
    status_version: i64,
}

async fn new_job(
    dana: &Session,
    customer: RecordId,
    site: &str,
    assignee: &str,
    summary: &str,
    day: i64,
) -> Result<Job> {
    let id = new_record_id();
    let start = (Utc::now() + Duration::days(day))
        .date_naive()
        .and_hms_opt(8, 0, 0)
        .context("time")?
        .and_utc();
    dana.apply(change(
        RecordType::Job,
        id,
        None,
        Op::Create,
        0,
        json!({
            "schedule": {"customer_id": customer.to_string(), "site": site, "assignee": assignee,
                          "window_start": start.to_rfc3339(), "window_end": (start + Duration::hours(4)).to_rfc3339()},
            "description": {"summary": summary}
        }),
        0,
    ))
    .await?;
    Ok(Job {
        id,
        status_version: 1,
    })
}

async fn move_to(who: &Session, job: &mut Job, state: State) -> Result<()> {
    let outcome = who
        .apply(change(
            RecordType::Job,
            job.id,
            Some(Group::Status),
            Op::Update,
            job.status_version,
            json!({"state": state}),
            1,
        ))
        .await?;
    job.status_version = outcome.version.unwrap_or(job.status_version + 1);
    Ok(())
}

async fn sign(tech: &Session, job: &mut Job, signer: &str) -> Result<()> {
    tech.apply(change(
        RecordType::Job,
        job.id,
        Some(Group::Signature),
        Op::Update,
        1,
        json!({"signer": signer, "signed_at": Utc::now().to_rfc3339()}),
        1,
    ))
    .await?;
    tech.apply(change(
        RecordType::Job,
        job.id,
        Some(Group::Work),
        Op::Update,
        1,
        json!({"labour_hours": 2.5, "completed_at": Utc::now().to_rfc3339()}),
        1,
    ))
    .await?;
    move_to(tech, job, State::SignedOff).await
}

async fn note(who: &Session, job: &Job, text: &str) -> Result<()> {
    who.apply(change(
        RecordType::JobNote,
        new_record_id(),
        None,
        Op::Create,
        0,
        json!({"text": {"job_id": job.id.to_string(), "text": text}}),
        0,
    ))
    .await
    .map(|_| ())
}

/// Seeds the demo through the API, as the people themselves would.
pub async fn seed(base: &str) -> Result<()> {
    let login = |user: &'static str, device: &'static str| {
        Session::login(base, user, DEMO_PASSWORD, device)
    };
    let dana = login("dana", "Dispatch desk").await?;
    let sam = login("sam", "Supervisor laptop").await?;
    let fiona = login("fiona", "Finance desk").await?;
    let olivia = login("olivia", "Front office").await?;
    let tom = login("tom", "Tom's tablet").await?;
    let rita = login("rita", "Rita's phone").await?;
    let kai = login("kai", "Kai's tablet").await?;

    let mut customers = Vec::new();
    for (name, site, phone) in [
        (
            "Harbour View Apartments",
            "12 Harbour Rd",
            "+44 20 7946 0101",
        ),
        ("Northgate Bakery", "3 Northgate St", "+44 20 7946 0102"),
        ("St. Anne's School", "40 Church Lane", "+44 20 7946 0103"),
        ("Riverside Clinic", "8 Mill Walk", "+44 20 7946 0104"),
    ] {
        let id = new_record_id();
        olivia
            .apply(change(
                RecordType::Customer,
                id,
                None,
                Op::Create,
                0,
                json!({"profile": {"name": name, "phone": phone, "site_address": site},
                       "billing": {"billing_contact": "Accounts", "billing_email": "accounts@example.com"}}),
                0,
            ))
            .await?;
        customers.push((id, site));
    }
    let c = |i: usize| customers[i % customers.len()];

    let _assigned = new_job(&dana, c(0).0, c(0).1, "tom", "Boiler service, flat 4B", 1).await?;
    let mut opened = new_job(&dana, c(1).0, c(1).1, "tom", "Oven thermostat fault", 0).await?;
    move_to(&tom, &mut opened, State::Opened).await?;
    let mut in_progress = new_job(
        &dana,
        c(2).0,
        c(2).1,
        "tom",
        "Heating not reaching classroom 3",
        0,
    )
    .await?;
    move_to(&tom, &mut in_progress, State::InProgress).await?;
    note(&tom, &in_progress, "Radiator valve seized; freeing it now.").await?;
    tom.apply(change(RecordType::PartLine, new_record_id(), None, Op::Create, 0, json!({"line": {"job_id": in_progress.id.to_string(), "part_number": "TRV-15", "quantity": 2}}), 0))
        .await?;
    let mut working = new_job(
        &dana,
        c(3).0,
        c(3).1,
        "kai",
        "Service the walk-in cooler",
        0,
    )
    .await?;
    move_to(&kai, &mut working, State::InProgress).await?;
    note(
        &kai,
        &working,
        "Condenser coils cleaned; checking refrigerant next.",
    )
    .await?;
    // Same customer, site and day as the cooler job: flagged as a possible duplicate for dispatch.
    let mut paused = new_job(&dana, c(3).0, c(3).1, "rita", "Replace extractor fan", 0).await?;
    move_to(&rita, &mut paused, State::InProgress).await?;
    move_to(&rita, &mut paused, State::Paused).await?;
    note(&rita, &paused, "Waiting for a fan of the right size.").await?;
    let mut signed = new_job(&dana, c(0).0, c(0).1, "rita", "Annual gas safety check", -1).await?;
    move_to(&rita, &mut signed, State::InProgress).await?;
    sign(&rita, &mut signed, "J. Harbour (manager)").await?;
    let mut closed = new_job(&dana, c(1).0, c(1).1, "kai", "Fit new mixer tap", -2).await?;
    move_to(&kai, &mut closed, State::InProgress).await?;
    sign(&kai, &mut closed, "P. Northgate").await?;
    move_to(&sam, &mut closed, State::Closed).await?;
    let mut reopened = new_job(
        &dana,
        c(2).0,
        c(2).1,
        "kai",
        "Leak under sink (came back)",
        -3,
    )
    .await?;
    move_to(&kai, &mut reopened, State::InProgress).await?;
    sign(&kai, &mut reopened, "Head teacher").await?;
    move_to(&sam, &mut reopened, State::Closed).await?;
    sam.reopen(reopened.id, "Customer reports the leak is back")
        .await?;
    let voided = new_job(&dana, c(3).0, c(3).1, "tom", "Duplicate call: fan noise", 2).await?;
    dana.apply(change(
        RecordType::Job,
        voided.id,
        Some(Group::Status),
        Op::Void,
        1,
        json!({"reason": "Customer cancelled"}),
        1,
    ))
    .await?;
    let mut archived = new_job(
        &dana,
        c(0).0,
        c(0).1,
        "kai",
        "Old job from last season",
        -30,
    )
    .await?;
    move_to(&kai, &mut archived, State::InProgress).await?;
    sign(&kai, &mut archived, "Caretaker").await?;
    move_to(&sam, &mut archived, State::Closed).await?;
    dana.apply(change(
        RecordType::Job,
        archived.id,
        Some(Group::Status),
        Op::Void,
        archived.status_version,
        json!({"reason": "Season closed", "state": State::Archived}),
        1,
    ))
    .await?;

    // A status collision: the office pauses Tom's job while Tom, from the same version, signs
    // it off. The second to arrive is held for a supervisor.
    let contested = in_progress.status_version;
    sam.apply(change(
        RecordType::Job,
        in_progress.id,
        Some(Group::Status),
        Op::Update,
        contested,
        json!({"state": State::Paused}),
        1,
    ))
    .await?;
    let held = tom
        .push(vec![change(
            RecordType::Job,
            in_progress.id,
            Some(Group::Status),
            Op::Update,
            contested,
            json!({"state": State::SignedOff}),
            1,
        )])
        .await?;
    anyhow::ensure!(
        held.first()
            .is_some_and(|o| o.status == fieldsync_core::OutcomeStatus::Held),
        "the demo conflict was not held"
    );

    for (state, job, total) in [
        (State::Draft, &opened, 180.0),
        (State::Sent, &signed, 240.0),
        (State::Paid, &closed, 95.5),
    ] {
        let id = new_record_id();
        fiona
            .apply(change(
                RecordType::Invoice,
                id,
                None,
                Op::Create,
                0,
                json!({"totals": {"job_id": job.id.to_string(), "lines": [{"text": "Labour", "amount": total}], "subtotal": total, "tax": total * 0.2, "total": total * 1.2, "currency": "GBP"}}),
                0,
            ))
            .await?;
        let mut version = 1;
        for step in [State::Sent, State::Paid] {
            if state == State::Draft || (state == State::Sent && step == State::Paid) {
                break;
            }
            let o = fiona
                .apply(change(
                    RecordType::Invoice,
                    id,
                    Some(Group::Status),
                    Op::Update,
                    version,
                    json!({"state": step}),
                    1,
                ))
                .await?;
            version = o.version.unwrap_or(version + 1);
        }
    }
    Ok(())
}

/// The demo server running in this process, for the simulator.
pub struct EmbeddedServer {
    pub base: String,
    pub store: SqliteStore,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl EmbeddedServer {
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("server task")??;
        self.store.close().await;
        Ok(())
    }
}

/// Starts a fresh demo server on a free loopback port in `dir`, seeded.
pub async fn start_embedded(dir: &Path) -> Result<(String, EmbeddedServer)> {
    std::fs::create_dir_all(dir)?;
    let store = SqliteStore::open(&dir.join("fieldsync.db")).await?;
    add_users(&store).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(
        Arc::new(store.clone()),
        Policy::default_policy(),
        dir.join("files"),
        Arc::new(SystemClock),
        Limits::default(),
    );
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(fieldsync_server::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    seed(&base).await.context("seeding the demo data")?;
    Ok((
        base.clone(),
        EmbeddedServer {
            base,
            store,
            stop,
            task,
        },
    ))
}

/// One more technician, with a job of their own assigned by dispatch.
pub async fn add_technician_with_job(
    server: &EmbeddedServer,
    dana: &Session,
    name: &str,
) -> Result<()> {
    let hash = hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?;
    server
        .store
        .add_user(
            NewUser {
                name: name.into(),
                display_name: name.into(),
                role: Role::Technician,
                team: Some("north".into()),
                password_hash: hash,
            },
            Utc::now(),
        )
        .await?;
    let customer = new_record_id();
    let olivia = Session::login(&server.base, "olivia", DEMO_PASSWORD, "Front office").await?;
    olivia
        .apply(change(
            RecordType::Customer,
            customer,
            None,
            Op::Create,
            0,
            json!({"profile": {"name": format!("Customer of {name}")}}),
            0,
        ))
        .await?;
    new_job(
        dana,
        customer,
        &format!("{name} site"),
        name,
        "Routine maintenance visit",
        0,
    )
    .await?;
    Ok(())
}
