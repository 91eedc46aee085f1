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
    // The signing pad's image goes up the file lane first, as the technician's device sends it.
    let image = tech.upload(&demo_images::signature(signer)?).await?;
    tech.apply(change(
        RecordType::Job,
        job.id,
        Some(Group::Signature),
        Op::Update,
        1,
        json!({"signer": signer, "signed_at": Utc::now().to_rfc3339(), "image_sha256": image}),
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

/// A photo of the job taken on the technician's device: the file up the file lane, then the
/// photo record that names it.
async fn photo(tech: &Session, job: &Job, seed: u32, caption: Option<&str>) -> Result<()> {
    let sha = tech.upload(&demo_images::photo(seed)?).await?;
    let mut file = json!({"job_id": job.id.to_string(), "sha256": sha});
    if let Some(caption) = caption {
        file["caption"] = json!(caption);
    }
    tech.apply(change(
        RecordType::Photo,
        new_record_id(),
        None,
        Op::Create,
        0,
        json!({ "file": file }),
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
    photo(
        &tom,
        &in_progress,
        1,
        Some("Seized valve on the classroom 3 radiator"),
    )
    .await?;
    photo(&tom, &in_progress, 2, None).await?;
    photo(
        &tom,
        &in_progress,
        3,
        Some("Radiator warm again after bleeding"),
    )
    .await?;
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
    photo(&kai, &working, 4, Some("Condenser coils after cleaning")).await?;
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

/// The demo's pictures, drawn in code so the repository holds no binary files: a photo of a
/// radiator on a wall (a JPEG, as a phone camera sends) and a signature on a see-through
/// background (a PNG, as a signing pad exports it). Deterministic: the same seed, the same bytes.
mod demo_images {
    use anyhow::Result;
    use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

    /// A small generator for the grain and the strokes (the demo needs repeatable bytes, not
    /// good randomness).
    struct Lcg(u32);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            self.0 >> 8
        }
    }

    /// A 1280×960 photo: a wall, a radiator with its fins, a copper pipe and a valve, the floor,
    /// and a camera's grain; the seed moves and tints them, so each photo differs.
    pub fn photo(seed: u32) -> Result<Vec<u8>> {
        let (w, h) = (1280u32, 960u32);
        let mut rng = Lcg(seed.wrapping_mul(2_654_435_761));
        let tint = (seed * 37 % 70) as i32 - 20;
        let left = 80 + (seed * 211 % 420);
        let (right, top, bottom) = (left + 380 + seed * 149 % 360, 240 + seed * 53 % 200, 700);
        let pipe = bottom + 40;
        let picture = RgbImage::from_fn(w, h, |x, y| {
            let light = 1.0 - (x as f32 - w as f32 * 0.4).abs() / (w as f32 * 1.6);
            let mut c: [i32; 3] = if y > 820 {
                [120 + tint, 92, 70] // the floor
            } else if x >= left && x < right && y >= top && y < bottom {
                let fin = ((x - left) % 48) as i32;
                let shade = if fin < 6 { -40 } else { -(fin - 24).abs() / 2 };
                [236 + shade, 236 + shade, 230 + shade] // the radiator
            } else if y >= pipe && y < pipe + 22 && x >= left - 60 {
                let band = (y - pipe) as i32;
                [184 - band * 3, 112 - band * 2, 60] // the copper pipe
            } else if x >= right && x < right + 46 && y >= bottom - 10 && y < pipe + 30 {
                [70, 72, 80] // the valve
            } else {
                [214 - tint, 200 - tint / 2, 170] // the wall
            };
            let grain = (rng.next() % 17) as i32 - 8;
            for v in &mut c {
                *v = ((*v as f32 * light) as i32 + grain).clamp(0, 255);
            }
            Rgb([c[0] as u8, c[1] as u8, c[2] as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&picture)?;
        Ok(out.into_inner())
    }

    /// A 600×180 signature: a looping pen stroke whose shape comes from the signer's name, and
    /// a flourish under it. Stamped as small discs along the path: the image crate draws no
    /// lines, and a line-drawing crate is a lot to add for one demo picture.
    pub fn signature(signer: &str) -> Result<Vec<u8>> {
        let (w, h) = (600u32, 180u32);
        let mut picture = RgbaImage::from_pixel(w, h, Rgba([0, 0, 0, 0]));
        let mut rng = Lcg(signer
            .bytes()
            .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32)));
        let loops = 5 + rng.next() % 4;
        let mut stamp = |x: f32, y: f32| {
            for dy in -2i32..=2 {
                for dx in -2i32..=2 {
                    if dx * dx + dy * dy <= 5 {
                        let (px, py) = (x as i32 + dx, y as i32 + dy);
                        if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                            picture.put_pixel(px as u32, py as u32, Rgba([22, 34, 96, 255]));
                        }
                    }
                }
            }
        };
        let steps = 2400;
        let radius = 26.0 + (rng.next() % 14) as f32;
        for i in 0..steps {
            let t = i as f32 / steps as f32;
            let angle = t * loops as f32 * std::f32::consts::TAU;
            let x = 40.0 + t * 470.0 + radius * 0.8 * angle.cos();
            let y = 80.0 + radius * angle.sin() * (1.0 - 0.5 * t) - 18.0 * (t * 3.0).sin();
            stamp(x, y);
        }
        for i in 0..600 {
            let t = i as f32 / 600.0;
            stamp(
                60.0 + t * 480.0,
                150.0 - 10.0 * (t * std::f32::consts::PI).sin(),
            );
        }
        let mut out = std::io::Cursor::new(Vec::new());
        picture.write_to(&mut out, ImageFormat::Png)?;
        Ok(out.into_inner())
    }
}
