//! The security matrix: every call of the API for every role, on the caller's own record and on
//! someone else's, each row allowed or refused with its HTTP status and stable code. Then what
//! lies around it: missing, bad and revoked tokens; the sign-in rate limit; file names that try
//! to climb out of the data directory; bodies and uploads over their bounds; secrets stored
//! hashed; event streams held per device; connections that never send a request. SECURITY.md
//! points here for each claim it makes.
//!
//! "Own" is the record a role answers for: Tom's job (technician), a job waiting in the dispatch
//! team (dispatcher), a note the supervisor wrote, the invoice (finance), the customer (office),
//! an activity entry the admin logged. "Theirs" is a record of Kai's, a technician of another
//! team: his job, its note, part line, photo and customer, or the invoice on it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::wire::OutcomeStatus;
use fieldsync_core::{Group, RecordId, RecordType, ReviewId, Role};
use fieldsync_server::{Clock, Limits};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use Role::{Admin, Dispatcher, Finance, Office, Supervisor, Technician};

/// One API call, made the way that role would make it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Call {
    /// `POST /auth/login`: own = one's own name and password, theirs = another's name.
    Login,
    /// `POST /sync/push`: an update of the record's main field group.
    Push,
    /// `POST /sync/push`: a note created on the job.
    AddNote,
    /// `POST /sync/push`: a void of the job.
    Void,
    /// `GET /sync/pull`: is the record (or the review item) in what the caller pulls?
    Pull,
    /// `GET /events`.
    Events,
    /// `GET /review`: is the item in the caller's inbox?
    Review,
    /// `POST /review/{id}/resolve`.
    Resolve,
    /// `POST /records/job/{id}/reassign`.
    Reassign,
    /// `POST /records/job/{id}/reopen` (of a signed-off job).
    Reopen,
    /// `GET /records/{type}/{id}/history`.
    History,
    /// `HEAD /files/{sha256}` of an upload half done.
    FileHead,
    /// `PATCH /files/{sha256}`: the next bytes of an upload half done.
    FilePatch,
    /// `GET /files/{sha256}`: own = the file of a photo on Tom's job (for every role), theirs
    /// = the file of Kai's photo, or Kai's upload half done.
    FileGet,
    /// `GET /devices`.
    Devices,
    /// `GET /policy`.
    Policy,
}

/// Whose record a row is about.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Whose {
    /// No record: a call about the caller or the server.
    None,
    /// The record (review item, upload) the role answers for.
    Own,
    /// One of Kai's.
    Theirs(Kais),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kais {
    Job,
    Note,
    PartLine,
    Photo,
    Customer,
    /// The invoice on his job, which is finance's.
    Invoice,
    /// A status conflict on his job, with his version incoming.
    ReviewItem,
    /// His photo's file, half uploaded.
    Upload,
    /// His user name (for sign-in).
    Account,
}

/// What a row expects, and what it got.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    /// The call's success status (200, or 204 for a file's bytes).
    Ok,
    /// Refused: HTTP status and the error body's code.
    Refused(u16, String),
    /// A push answered 200 with this outcome.
    Applied,
    Held,
    Rejected(String),
    /// A read that answered 200: the record or item is in it, or it is not.
    Shown,
    Hidden,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Refused(status, code) => write!(f, "{status} {code}"),
            Answer::Rejected(code) => write!(f, "rejected {code}"),
            other => write!(f, "{other:?}"),
        }
    }
}

use Answer::{Applied, Held, Hidden, Shown};
const OK: Answer = Answer::Ok;

fn refused(status: u16, code: &str) -> Answer {
    Answer::Refused(status, code.to_string())
}

fn rejected(code: &str) -> Answer {
    Answer::Rejected(code.to_string())
}

struct Row {
    role: Role,
    call: Call,
    whose: Whose,
    expect: Answer,
}

fn row(role: Role, call: Call, whose: Whose, expect: Answer) -> Row {
    Row {
        role,
        call,
        whose,
        expect,
    }
}

const OWN: Whose = Whose::Own;
const NONE: Whose = Whose::None;
const KAIS_JOB: Whose = Whose::Theirs(Kais::Job);
const KAIS_NOTE: Whose = Whose::Theirs(Kais::Note);
const KAIS_PART: Whose = Whose::Theirs(Kais::PartLine);
const KAIS_PHOTO: Whose = Whose::Theirs(Kais::Photo);
const KAIS_CUSTOMER: Whose = Whose::Theirs(Kais::Customer);
const KAIS_INVOICE: Whose = Whose::Theirs(Kais::Invoice);
const KAIS_ITEM: Whose = Whose::Theirs(Kais::ReviewItem);
const KAIS_UPLOAD: Whose = Whose::Theirs(Kais::Upload);
const KAIS_ACCOUNT: Whose = Whose::Theirs(Kais::Account);

/// The matrix: one row per (call, role, whose), in the order of DESIGN.md's protocol table.
fn matrix() -> Vec<Row> {
    use Call::*;
    let forbidden = || refused(403, "forbidden");
    let not_found = || refused(404, "not_found");
    let office = [Dispatcher, Supervisor, Finance, Office, Admin];
    let mut rows = vec![];
    for role in Role::ALL {
        rows.push(row(role, Login, OWN, OK));
        rows.push(row(
            role,
            Login,
            KAIS_ACCOUNT,
            refused(401, "invalid_credentials"),
        ));
    }
    rows.extend([
        // Writing a group: the owner, or an office role the policy names as a writer.
        row(Technician, Push, OWN, Applied),
        row(Technician, Push, KAIS_JOB, rejected("not_owner")),
        row(Dispatcher, Push, OWN, Applied),
        row(Dispatcher, Push, KAIS_JOB, Applied),
        // A note is append-only: even its author's edit goes to review.
        row(Supervisor, Push, OWN, Held),
        row(Supervisor, Push, KAIS_JOB, Applied),
        row(Finance, Push, OWN, Applied),
        row(Finance, Push, KAIS_JOB, rejected("forbidden")),
        row(Office, Push, OWN, Applied),
        row(Office, Push, KAIS_JOB, rejected("forbidden")),
        // The admin's activity entry belongs to the system, not to the admin.
        row(Admin, Push, OWN, rejected("forbidden")),
        row(Admin, Push, KAIS_JOB, rejected("forbidden")),
        // Adding a note to a job: the technician on their own jobs only.
        row(Technician, AddNote, OWN, Applied),
        row(Technician, AddNote, KAIS_JOB, rejected("not_owner")),
        row(Dispatcher, AddNote, KAIS_JOB, Applied),
        row(Supervisor, AddNote, KAIS_JOB, Applied),
        row(Finance, AddNote, KAIS_JOB, Applied),
        row(Office, AddNote, KAIS_JOB, Applied),
        row(Admin, AddNote, KAIS_JOB, rejected("forbidden")),
        // Voiding a job is a dispatcher's or supervisor's decision, whoever owns it.
        row(Technician, Void, OWN, rejected("forbidden")),
        row(Technician, Void, KAIS_JOB, rejected("forbidden")),
        row(Dispatcher, Void, KAIS_JOB, Applied),
        row(Supervisor, Void, KAIS_JOB, Applied),
        row(Finance, Void, KAIS_JOB, rejected("forbidden")),
        row(Office, Void, KAIS_JOB, rejected("forbidden")),
        row(Admin, Void, KAIS_JOB, rejected("forbidden")),
    ]);
    // Pulling: a technician their own jobs and what hangs off them; the office everything.
    rows.push(row(Technician, Pull, OWN, Shown));
    for kais in [
        KAIS_JOB,
        KAIS_NOTE,
        KAIS_PART,
        KAIS_PHOTO,
        KAIS_CUSTOMER,
        KAIS_INVOICE,
        KAIS_ITEM,
    ] {
        rows.push(row(Technician, Pull, kais, Hidden));
    }
    for role in office {
        rows.push(row(role, Pull, OWN, Shown));
        rows.push(row(role, Pull, KAIS_JOB, Shown));
        rows.push(row(role, Pull, KAIS_PHOTO, Shown));
    }
    for role in Role::ALL {
        rows.push(row(role, Events, NONE, OK));
    }
    // The inbox: the items a role may resolve, and a technician's own held changes.
    rows.extend([
        row(Technician, Review, OWN, Shown),
        row(Technician, Review, KAIS_ITEM, Hidden),
        row(Dispatcher, Review, OWN, Shown),
        row(Dispatcher, Review, KAIS_ITEM, Hidden),
        row(Supervisor, Review, OWN, Shown),
        row(Supervisor, Review, KAIS_ITEM, Shown),
        row(Finance, Review, OWN, Shown),
        row(Finance, Review, KAIS_ITEM, Hidden),
        row(Office, Review, OWN, Shown),
        row(Office, Review, KAIS_ITEM, Hidden),
        row(Admin, Review, KAIS_ITEM, Hidden),
        // Resolving: the policy's resolvers only; a technician not even their own item.
        row(Technician, Resolve, OWN, forbidden()),
        row(Technician, Resolve, KAIS_ITEM, forbidden()),
        row(Dispatcher, Resolve, OWN, OK),
        row(Dispatcher, Resolve, KAIS_ITEM, forbidden()),
        row(Supervisor, Resolve, OWN, OK),
        row(Supervisor, Resolve, KAIS_ITEM, OK),
        row(Finance, Resolve, OWN, OK),
        row(Finance, Resolve, KAIS_ITEM, forbidden()),
        row(Office, Resolve, OWN, OK),
        row(Office, Resolve, KAIS_ITEM, forbidden()),
        row(Admin, Resolve, KAIS_ITEM, forbidden()),
        // Reassigning: the dispatcher. Reopening: the supervisor and the dispatcher.
        row(Technician, Reassign, OWN, forbidden()),
        row(Technician, Reassign, KAIS_JOB, forbidden()),
        row(Dispatcher, Reassign, OWN, OK),
        row(Dispatcher, Reassign, KAIS_JOB, OK),
        row(Technician, Reopen, OWN, forbidden()),
        row(Technician, Reopen, KAIS_JOB, forbidden()),
        row(Dispatcher, Reopen, OWN, OK),
        row(Dispatcher, Reopen, KAIS_JOB, OK),
        row(Supervisor, Reopen, KAIS_JOB, OK),
    ]);
    for role in [Supervisor, Finance, Office, Admin] {
        rows.push(row(role, Reassign, KAIS_JOB, forbidden()));
    }
    for role in [Finance, Office, Admin] {
        rows.push(row(role, Reopen, KAIS_JOB, forbidden()));
    }
    // History: out of a technician's scope reads the same as missing.
    rows.push(row(Technician, History, OWN, OK));
    for kais in [
        KAIS_JOB,
        KAIS_NOTE,
        KAIS_PART,
        KAIS_PHOTO,
        KAIS_CUSTOMER,
        KAIS_INVOICE,
    ] {
        rows.push(row(Technician, History, kais, not_found()));
    }
    for role in office {
        rows.push(row(role, History, OWN, OK));
        rows.push(row(role, History, KAIS_JOB, OK));
        rows.push(row(role, History, KAIS_PHOTO, OK));
    }
    // Files: anyone signed in may ask where an upload stands (its name is its hash, known
    // only to who has the bytes or sees the photo); only its uploader adds bytes to it.
    for role in Role::ALL {
        rows.push(row(role, FileHead, OWN, OK));
        rows.push(row(role, FileHead, KAIS_UPLOAD, OK));
        rows.push(row(role, FilePatch, OWN, OK));
        rows.push(row(
            role,
            FilePatch,
            KAIS_UPLOAD,
            refused(503, "file_pending"),
        ));
    }
    // Downloading: the office any file a record names; a technician those of their own jobs.
    // A file still on its way is nobody's yet.
    rows.push(row(Technician, FileGet, OWN, OK));
    rows.push(row(Technician, FileGet, KAIS_PHOTO, forbidden()));
    for role in office {
        rows.push(row(role, FileGet, OWN, OK));
        rows.push(row(role, FileGet, KAIS_PHOTO, OK));
    }
    for role in Role::ALL {
        rows.push(row(role, FileGet, KAIS_UPLOAD, not_found()));
    }
    for role in Role::ALL {
        let devices = if role == Technician { forbidden() } else { OK };
        rows.push(row(role, Devices, NONE, devices));
        rows.push(row(role, Policy, NONE, OK));
    }
    rows
}

/// The records, review items and uploads the rows are about.
struct World {
    p: People,
    customer: RecordId,
    tom_job: RecordId,
    dispatch_job: RecordId,
    sam_note: RecordId,
    invoice: RecordId,
    activity: RecordId,
    kai_customer: RecordId,
    kai_job: RecordId,
    kai_note: RecordId,
    kai_part: RecordId,
    kai_photo: RecordId,
    kai_invoice: RecordId,
    /// The whole files of Kai's photo and of a photo on Tom's job.
    kai_photo_sha: String,
    tom_photo_sha: String,
    /// An open item of each role's own kind, and one on Kai's job.
    own_items: Vec<(Role, ReviewId)>,
    kai_item: ReviewId,
    /// Half-done uploads: each role's own, and Kai's.
    uploads: Vec<(Role, Upload)>,
    kai_upload: Upload,
}

/// A file half uploaded: its bytes, its name, and how far it got.
#[derive(Clone)]
struct Upload {
    bytes: Vec<u8>,
    sha: String,
    sent: usize,
}

impl Upload {
    async fn begin(who: &Client, seed: &str) -> Upload {
        let bytes = format!("the photo bytes of {seed} ")
            .repeat(64)
            .into_bytes();
        let sha = hex::encode(Sha256::digest(&bytes));
        let upload = Upload {
            bytes,
            sha,
            sent: 0,
        };
        let response = upload.send(who, 100).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{seed}");
        Upload {
            sent: 100,
            ..upload
        }
    }

    /// PATCHes the next `n` bytes from where this upload stands.
    async fn send(&self, who: &Client, n: usize) -> reqwest::Response {
        let end = (self.sent + n).min(self.bytes.len());
        who.request(Method::PATCH, &format!("/api/v1/files/{}", self.sha))
            .header("content-type", "application/offset+octet-stream")
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", self.sent.to_string())
            .header("upload-length", self.bytes.len().to_string())
            .body(self.bytes[self.sent..end].to_vec())
            .send()
            .await
            .unwrap()
    }

    async fn finish(&self, who: &Client) {
        let response = self.send(who, self.bytes.len()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}

/// The version and epoch a record's group stands at, as the admin sees it.
async fn current(p: &People, t: RecordType, id: RecordId, group: Group) -> (i64, i64) {
    let history = p.ada.history(t, id).await;
    (
        history.record.groups[&group].version,
        history.record.owner_epoch,
    )
}

/// An update of a record's main group, on the version it stands at.
async fn edit(p: &People, t: RecordType, id: RecordId, group: Group, values: Value) -> Value {
    let (version, epoch) = current(p, t, id, group).await;
    let mut change = update(t, id, group, version, values);
    change.owner_epoch = epoch;
    serde_json::to_value(change).unwrap()
}

/// A status conflict on a job: the supervisor moves it, then the owner's edit meets it.
async fn status_conflict(p: &People, owner: &Client, job: RecordId) -> ReviewId {
    p.sam.apply(status(job, 1, "in_progress")).await;
    let outcome = owner.push_one(status(job, 1, "opened")).await;
    assert_eq!(outcome.status, OutcomeStatus::Held, "{outcome:?}");
    outcome.review_id.unwrap()
}

/// A job created twice for the same customer, site and day: the second flagged.
async fn possible_duplicate(p: &People, customer: RecordId) -> ReviewId {
    let site = format!("{} Dock Road", new_id());
    p.dana
        .new_job_at(customer, &site, "tom", start_time())
        .await;
    let second = p
        .dana
        .new_job_at(customer, &site, "tom", start_time())
        .await;
    p.dana
        .review()
        .await
        .into_iter()
        .find(|item| item.record_id == second)
        .expect("the second job is flagged")
        .review_id
}

/// Two writers of a manual-review group on the same version: the second is held.
async fn group_conflict(
    first: &Client,
    second: &Client,
    t: RecordType,
    id: RecordId,
    group: Group,
    values: [Value; 2],
) -> ReviewId {
    let [a, b] = values;
    first.apply(update(t, id, group, 1, a)).await;
    let outcome = second.push_one(update(t, id, group, 1, b)).await;
    assert_eq!(outcome.status, OutcomeStatus::Held, "{outcome:?}");
    outcome.review_id.unwrap()
}

async fn new_invoice(p: &People, job: RecordId) -> RecordId {
    let id = new_id();
    p.fiona
        .apply(create(
            RecordType::Invoice,
            id,
            json!({"totals": {"job_id": job.to_string(), "subtotal": 100.0, "tax": 20.0,
                              "total": 120.0, "currency": "GBP"}}),
        ))
        .await;
    id
}

/// An item of the kind a role resolves (none is the admin's), fresh each time it is asked for.
async fn own_item(p: &People, role: Role, customer: RecordId) -> Option<ReviewId> {
    Some(match role {
        Technician | Supervisor => {
            let job = p.dana.new_job(customer, "tom").await;
            status_conflict(p, &p.tom, job).await
        }
        Dispatcher => possible_duplicate(p, customer).await,
        Finance => {
            let job = p.dana.new_job(customer, "tom").await;
            let invoice = new_invoice(p, job).await;
            let fiona2 = p.fiona.clone();
            group_conflict(
                &p.fiona,
                &fiona2,
                RecordType::Invoice,
                invoice,
                Group::Totals,
                [
                    json!({"tax": 30.0, "total": 130.0}),
                    json!({"tax": 40.0, "total": 140.0}),
                ],
            )
            .await
        }
        Office => {
            let customer = p.olivia.new_customer("Quayside Flats").await;
            group_conflict(
                &p.olivia,
                &p.fiona,
                RecordType::Customer,
                customer,
                Group::Billing,
                [
                    json!({"billing_contact": "Ms Quay"}),
                    json!({"billing_contact": "Mr Side"}),
                ],
            )
            .await
        }
        Admin => return None,
    })
}

/// A signed-off job of `owner`'s, ready to be reopened.
async fn signed_off_job(p: &People, customer: RecordId, owner: &Client) -> RecordId {
    let job = p.dana.new_job(customer, &owner.user).await;
    owner
        .apply(update(
            RecordType::Job,
            job,
            Group::Signature,
            1,
            json!({"signer": "the customer"}),
        ))
        .await;
    owner.apply(status(job, 1, "signed_off")).await;
    job
}

impl World {
    async fn build(server: &TestServer) -> World {
        let p = server.everyone().await;
        let customer = p.olivia.new_customer("Harbour View").await;
        let kai_customer = p.olivia.new_customer("Northgate Bakery").await;
        let tom_job = p.dana.new_job(customer, "tom").await;
        let kai_job = p.dana.new_job(kai_customer, "kai").await;
        let dispatch_job = new_id();
        p.dana
            .apply(create(
                RecordType::Job,
                dispatch_job,
                job_values(customer, "waiting yard", None, start_time()),
            ))
            .await;
        let sam_note = p.sam.new_note(tom_job, "check the meter").await;
        let invoice = new_invoice(&p, tom_job).await;
        let kai_invoice = new_invoice(&p, kai_job).await;
        let activity = new_id();
        p.ada
            .apply(create(
                RecordType::Activity,
                activity,
                json!({"entry": {"who": "ada", "what": "audit", "when": "2025-03-03T07:30:00Z"}}),
            ))
            .await;
        let kai_note = p.kai.new_note(kai_job, "tap fitted").await;
        let kai_part = p.kai.new_part_line(kai_job, "MX-2", 1).await;
        let photo_file = Upload::begin(&p.kai, "kai's finished photo").await;
        photo_file.finish(&p.kai).await;
        let kai_photo = new_id();
        p.kai
            .apply(create(
                RecordType::Photo,
                kai_photo,
                json!({"file": {"job_id": kai_job.to_string(), "sha256": photo_file.sha,
                                "caption": "new tap"}}),
            ))
            .await;
        let tom_file = Upload::begin(&p.tom, "tom's finished photo").await;
        tom_file.finish(&p.tom).await;
        p.tom
            .apply(create(
                RecordType::Photo,
                new_id(),
                json!({"file": {"job_id": tom_job.to_string(), "sha256": tom_file.sha,
                                "caption": "old boiler"}}),
            ))
            .await;
        let mut own_items = vec![];
        for role in Role::ALL {
            if let Some(item) = own_item(&p, role, customer).await {
                own_items.push((role, item));
            }
        }
        let kai_item = status_conflict(&p, &p.kai, kai_job).await;
        let mut uploads = vec![];
        for role in Role::ALL {
            let who = p.by_role(role);
            uploads.push((role, Upload::begin(who, &format!("{role}'s photo")).await));
        }
        let kai_upload = Upload::begin(&p.kai, "kai's photo").await;
        World {
            p,
            customer,
            tom_job,
            dispatch_job,
            sam_note,
            invoice,
            activity,
            kai_customer,
            kai_job,
            kai_note,
            kai_part,
            kai_photo,
            kai_invoice,
            kai_photo_sha: photo_file.sha,
            tom_photo_sha: tom_file.sha,
            own_items,
            kai_item,
            uploads,
            kai_upload,
        }
    }

    /// The record a role answers for, with the group its edit goes to and the values.
    fn own_record(&self, role: Role) -> (RecordType, RecordId, Group, Value) {
        match role {
            Technician => (
                RecordType::Job,
                self.tom_job,
                Group::Description,
                json!({"summary": "by tom"}),
            ),
            Dispatcher => (
                RecordType::Job,
                self.dispatch_job,
                Group::Description,
                json!({"summary": "by dana"}),
            ),
            Supervisor => (
                RecordType::JobNote,
                self.sam_note,
                Group::Text,
                json!({"text": "check the meter twice"}),
            ),
            Finance => (
                RecordType::Invoice,
                self.invoice,
                Group::Totals,
                json!({"tax": 21.0, "total": 121.0}),
            ),
            Office => (
                RecordType::Customer,
                self.customer,
                Group::Profile,
                json!({"phone": "+44 1632 960000"}),
            ),
            Admin => (
                RecordType::Activity,
                self.activity,
                Group::Entry,
                json!({"what": "rewritten"}),
            ),
        }
    }

    fn kais(&self, kais: Kais) -> (RecordType, RecordId) {
        match kais {
            Kais::Job => (RecordType::Job, self.kai_job),
            Kais::Note => (RecordType::JobNote, self.kai_note),
            Kais::PartLine => (RecordType::PartLine, self.kai_part),
            Kais::Photo => (RecordType::Photo, self.kai_photo),
            Kais::Customer => (RecordType::Customer, self.kai_customer),
            Kais::Invoice => (RecordType::Invoice, self.kai_invoice),
            other => panic!("{other:?} is not a record"),
        }
    }

    /// The record a row is about.
    fn record(&self, role: Role, whose: Whose) -> (RecordType, RecordId) {
        match whose {
            Whose::Own => {
                let (t, id, _, _) = self.own_record(role);
                (t, id)
            }
            Whose::Theirs(kais) => self.kais(kais),
            Whose::None => panic!("a row about no record has no record"),
        }
    }

    fn review_item(&self, role: Role, whose: Whose) -> ReviewId {
        match whose {
            Whose::Own => {
                self.own_items
                    .iter()
                    .find(|(r, _)| *r == role)
                    .unwrap_or_else(|| panic!("no {role} item"))
                    .1
            }
            _ => self.kai_item,
        }
    }

    /// A job for a row that changes it (void, reassign, reopen), so rows do not disturb each
    /// other: a fresh one of the caller's (the dispatch team's for a dispatcher) or of Kai's.
    async fn fresh_job(&self, role: Role, whose: Whose, signed_off: bool) -> RecordId {
        let owner = match (whose, role) {
            (Whose::Own, Technician) => &self.p.tom,
            _ => &self.p.kai,
        };
        // Kai's jobs are for Kai's customer, so no row puts that customer in Tom's scope.
        let customer = if owner.user == "kai" {
            self.kai_customer
        } else {
            self.customer
        };
        if signed_off && !(whose == OWN && role == Dispatcher) {
            return signed_off_job(&self.p, customer, owner).await;
        }
        if whose == OWN && role == Dispatcher {
            let job = new_id();
            self.p
                .dana
                .apply(create(
                    RecordType::Job,
                    job,
                    job_values(
                        self.kai_customer,
                        &format!("yard {job}"),
                        None,
                        start_time(),
                    ),
                ))
                .await;
            if signed_off {
                self.p
                    .dana
                    .apply(update(
                        RecordType::Job,
                        job,
                        Group::Signature,
                        1,
                        json!({"signer": "the customer"}),
                    ))
                    .await;
                self.p.dana.apply(status(job, 1, "signed_off")).await;
            }
            return job;
        }
        self.p.dana.new_job(customer, &owner.user).await
    }

    /// Makes a row's call and reads its answer in the row's terms.
    async fn run(&self, server: &TestServer, row: &Row) -> Answer {
        let who = self.p.by_role(row.role);
        match row.call {
            Call::Login => {
                let username = match row.whose {
                    Whose::Own => who.user.clone(),
                    _ => "kai".to_string(),
                };
                let password = match row.whose {
                    Whose::Own => PASSWORD.to_string(),
                    _ => format!("{}'s own password", who.user),
                };
                let response = server
                    .http
                    .post(server.url("/api/v1/auth/login"))
                    .json(&json!({"username": username, "password": password,
                                  "device_name": format!("{} spare", who.user)}))
                    .send()
                    .await
                    .unwrap();
                answer(response).await
            }
            Call::Push => {
                let body = match row.whose {
                    Whose::Own => {
                        let (t, id, group, values) = self.own_record(row.role);
                        edit(&self.p, t, id, group, values).await
                    }
                    whose => {
                        let (t, id) = self.record(row.role, whose);
                        let summary = format!("by {}", who.user);
                        edit(
                            &self.p,
                            t,
                            id,
                            Group::Description,
                            json!({"summary": summary}),
                        )
                        .await
                    }
                };
                pushed(who, body).await
            }
            Call::AddNote => {
                let (_, job) = match row.whose {
                    Whose::Own => (RecordType::Job, self.tom_job),
                    whose => self.record(row.role, whose),
                };
                let (_, epoch) = current(&self.p, RecordType::Job, job, Group::Status).await;
                let mut change = create(
                    RecordType::JobNote,
                    new_id(),
                    json!({"text": {"job_id": job.to_string(), "text": format!("{} was here", who.user)}}),
                );
                change.owner_epoch = epoch;
                pushed(who, serde_json::to_value(change).unwrap()).await
            }
            Call::Void => {
                let job = self.fresh_job(row.role, row.whose, false).await;
                let change = void(RecordType::Job, job, 1, "entered by mistake");
                pushed(who, serde_json::to_value(change).unwrap()).await
            }
            Call::Pull => {
                let pulled = who.pull_all().await;
                let shown = match row.whose {
                    Whose::Theirs(Kais::ReviewItem) => {
                        pulled.review.iter().any(|i| i.review_id == self.kai_item)
                    }
                    whose => {
                        let (_, id) = self.record(row.role, whose);
                        record_ids(&pulled).contains(&id)
                            || pulled.records.iter().any(|r| r.record_id == id)
                            || pulled.review.iter().any(|i| i.record_id == id)
                    }
                };
                if shown {
                    Shown
                } else {
                    Hidden
                }
            }
            Call::Events => {
                let response = who.get("/api/v1/events").await;
                let got = response.status();
                drop(response);
                if got == StatusCode::OK {
                    OK
                } else {
                    refused(got.as_u16(), "?")
                }
            }
            Call::Review => {
                let item = self.review_item(row.role, row.whose);
                if who.review().await.iter().any(|i| i.review_id == item) {
                    Shown
                } else {
                    Hidden
                }
            }
            Call::Resolve => {
                let item = match row.whose {
                    Whose::Own => own_item(&self.p, row.role, self.customer).await.unwrap(),
                    _ => {
                        let job = self.fresh_job(row.role, row.whose, false).await;
                        status_conflict(&self.p, &self.p.kai, job).await
                    }
                };
                answer(who.resolve_raw(item, json!({"choice": "incoming"})).await).await
            }
            Call::Reassign => {
                let job = self.fresh_job(row.role, row.whose, false).await;
                answer(who.reassign(job, "rita").await).await
            }
            Call::Reopen => {
                let job = self.fresh_job(row.role, row.whose, true).await;
                answer(who.reopen(job, "the leak is back").await).await
            }
            Call::History => {
                let (t, id) = self.record(row.role, row.whose);
                answer(who.get(&format!("/api/v1/records/{t}/{id}/history")).await).await
            }
            Call::FileHead | Call::FilePatch => {
                let upload = match row.whose {
                    Whose::Own => &self.uploads.iter().find(|(r, _)| *r == row.role).unwrap().1,
                    _ => &self.kai_upload,
                };
                let response = if row.call == Call::FileHead {
                    who.request(Method::HEAD, &format!("/api/v1/files/{}", upload.sha))
                        .send()
                        .await
                        .unwrap()
                } else {
                    upload.send(who, 1).await
                };
                let got = answer(response).await;
                // Each role's own upload takes one PATCH row; the byte it added is counted.
                if row.call == Call::FilePatch && got == OK {
                    let status = HeadStatus::of(who, &upload.sha).await;
                    assert_eq!(status.offset, upload.sent as u64 + 1, "one byte added");
                }
                got
            }
            Call::FileGet => {
                let sha = match row.whose {
                    Whose::Own => &self.tom_photo_sha,
                    Whose::Theirs(Kais::Photo) => &self.kai_photo_sha,
                    _ => &self.kai_upload.sha,
                };
                answer(who.get(&format!("/api/v1/files/{sha}")).await).await
            }
            Call::Devices => answer(who.get("/api/v1/devices").await).await,
            Call::Policy => answer(who.get("/api/v1/policy").await).await,
        }
    }
}

/// Where an upload stands, from HEAD.
struct HeadStatus {
    offset: u64,
}

impl HeadStatus {
    async fn of(who: &Client, sha: &str) -> HeadStatus {
        let response = who
            .request(Method::HEAD, &format!("/api/v1/files/{sha}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        HeadStatus {
            offset: response.headers()["upload-offset"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap(),
        }
    }
}

/// A push of one change: its outcome, or the refusal of the whole request.
async fn pushed(who: &Client, change: Value) -> Answer {
    let response = who
        .post("/api/v1/sync/push", json!({ "changes": [change] }))
        .await;
    if response.status() != StatusCode::OK {
        return answer(response).await;
    }
    let body: Value = response.json().await.unwrap();
    let outcome = &body["outcomes"][0];
    match outcome["status"].as_str().unwrap() {
        "applied" => Applied,
        "held" => Held,
        _ => {
            assert!(
                outcome["message"].as_str().is_some_and(|m| !m.is_empty()),
                "a rejection says why: {outcome}"
            );
            rejected(outcome["code"].as_str().unwrap_or("(no code)"))
        }
    }
}

/// A plain answer: OK on success, else its status and the error body's code (which must come
/// with a sentence).
async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    if status.is_success() {
        return OK;
    }
    let text = response.text().await.unwrap();
    if text.is_empty() {
        // HEAD answers carry no body.
        return refused(status.as_u16(), "(no body)");
    }
    match serde_json::from_str::<fieldsync_core::wire::ApiErrorBody>(&text) {
        Ok(body) if !body.message.is_empty() => refused(status.as_u16(), &body.code),
        _ => refused(status.as_u16(), &format!("(not an error body: {text})")),
    }
}

// Runs every row, then reports every row that did not answer as expected at once.
store_test!(every_call_for_every_role_on_own_and_others_records);
async fn every_call_for_every_role_on_own_and_others_records(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        Limits {
            // The matrix signs in once per role per row of its own; the limit has its own test.
            login_per_minute: 1000,
            ..Limits::default()
        },
    )
    .await;
    let world = World::build(&server).await;
    let rows = matrix();
    let mut wrong = vec![];
    for row in &rows {
        let got = world.run(&server, row).await;
        if got != row.expect {
            wrong.push(format!(
                "{:?} by {} on {:?}: expected {}, got {}",
                row.call, row.role, row.whose, row.expect, got
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows answered otherwise:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
    eprintln!("{} rows as expected", rows.len());
}

/// Every call that needs a token, with a body that would be accepted with a good one.
fn authed_calls(job: RecordId, review: ReviewId, sha: &str) -> Vec<(Method, String, Value)> {
    let post = |path: String, body: Value| (Method::POST, path, body);
    let get = |path: String| (Method::GET, path, Value::Null);
    vec![
        post("/api/v1/sync/push".into(), json!({"changes": []})),
        get("/api/v1/sync/pull?after=0".into()),
        get("/api/v1/events".into()),
        get("/api/v1/review".into()),
        post(
            format!("/api/v1/review/{review}/resolve"),
            json!({"choice": "current"}),
        ),
        post(
            format!("/api/v1/records/job/{job}/reassign"),
            json!({"owner": {"kind": "user", "name": "rita"}}),
        ),
        post(
            format!("/api/v1/records/job/{job}/reopen"),
            json!({"reason": "because"}),
        ),
        get(format!("/api/v1/records/job/{job}/history")),
        get("/api/v1/devices".into()),
        get("/api/v1/policy".into()),
        (Method::HEAD, format!("/api/v1/files/{sha}"), Value::Null),
        (Method::PATCH, format!("/api/v1/files/{sha}"), Value::Null),
        get(format!("/api/v1/files/{sha}")),
    ]
}

store_test!(without_a_valid_token_every_call_is_unauthenticated_at_once);
async fn without_a_valid_token_every_call_is_unauthenticated_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let review = status_conflict(&p, &p.tom, job).await;
    let upload = Upload::begin(&p.tom, "tom's photo").await;
    // The dispatcher's tablet works, then is revoked: its very next call is refused.
    let lost = server.login_device("dana", "lost tablet").await;
    assert_eq!(lost.get("/api/v1/devices").await.status(), StatusCode::OK);
    server
        .store
        .revoke_device(lost.device_id, server.clock.now())
        .await
        .unwrap();
    let replaced = server.login_device("olivia", "old phone").await;
    server.login_device("olivia", "old phone").await;
    let newest = server.max_seq().await;

    let authorizations: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        (
            "a made-up token",
            Some(format!("Bearer {}", "ab".repeat(32))),
        ),
        ("an empty bearer", Some("Bearer ".into())),
        ("a token that is not ASCII", Some("Bearer ñandú".into())),
        ("another scheme", Some(format!("Basic {}", p.tom.token))),
        (
            "the token's hash",
            Some(format!(
                "Bearer {}",
                fieldsync_server::auth::token_hash(&p.tom.token)
            )),
        ),
        (
            "a revoked device's token",
            Some(format!("Bearer {}", lost.token)),
        ),
        (
            "a token replaced by signing in again",
            Some(format!("Bearer {}", replaced.token)),
        ),
    ];
    let mut wrong = vec![];
    let mut cases = 0;
    for (method, path, body) in authed_calls(job, review, &upload.sha) {
        for (what, authorization) in &authorizations {
            cases += 1;
            let mut request = server.anonymous(method.clone(), &path);
            if let Some(value) = authorization {
                request = request.header("authorization", value.as_bytes());
            }
            if !body.is_null() {
                request = request.json(&body);
            }
            let got = answer(request.send().await.unwrap()).await;
            let expected = if method == Method::HEAD {
                refused(401, "(no body)")
            } else {
                refused(401, "unauthenticated")
            };
            if got != expected {
                wrong.push(format!("{method} {path} with {what}: got {got}"));
            }
        }
    }
    assert!(wrong.is_empty(), "of {cases}:\n{}", wrong.join("\n"));
    assert_eq!(server.max_seq().await, newest, "nothing was written");
    assert_eq!(
        HeadStatus::of(&p.tom, &upload.sha).await.offset,
        100,
        "no byte was added"
    );
    // The person's other devices still work; the revoked one signs in again only with the password.
    assert_eq!(p.dana.get("/api/v1/devices").await.status(), StatusCode::OK);
    let relogin = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "dana", "password": PASSWORD, "device_name": "lost tablet"}))
        .send()
        .await
        .unwrap();
    // Revoking ended the session: its old token stays refused, and signing in again needs the
    // password and makes a new one.
    assert_eq!(relogin.status(), StatusCode::OK);
    let answer: serde_json::Value = relogin.json().await.unwrap();
    assert_ne!(answer["token"].as_str(), None);
}

store_test!(sign_in_is_rate_limited_per_name_with_retry_after);
async fn sign_in_is_rate_limited_per_name_with_retry_after(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        Limits {
            login_per_minute: 5,
            ..Limits::default()
        },
    )
    .await;
    let login = |user: &'static str, password: &'static str| {
        server
            .http
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"username": user, "password": password, "device_name": "desk"}))
            .send()
    };
    // Guessing at a name that does not exist is limited as much as at one that does.
    for user in ["tom", "nobody"] {
        for _ in 0..5 {
            let response = login(user, "guess").await.unwrap();
            expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        let response = login(user, PASSWORD).await.unwrap();
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    assert_eq!(
        login("rita", PASSWORD).await.unwrap().status(),
        StatusCode::OK
    );
}

/// Sends raw bytes to the server and reads the status line, for paths an HTTP client would
/// tidy up before sending.
async fn raw_status(server: &TestServer, request_line_path: &str, token: &str) -> u16 {
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "HEAD {request_line_path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {reply}"))
}

store_test!(file_names_cannot_climb_out_of_the_data_directory);
async fn file_names_cannot_climb_out_of_the_data_directory(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tom = server.login("tom").await;
    // A file the server must never write over or tell about: next to the data directory.
    let outside = server.files_dir().parent().unwrap().join("secret");
    std::fs::write(&outside, b"do not touch").unwrap();
    let sha = hex::encode(Sha256::digest(b"x"));
    let names = [
        "..%2F..%2Fetc%2Fpasswd".to_string(),
        "..%2Fsecret".to_string(),
        "..".to_string(),
        "%2E%2E".to_string(),
        "%2Fetc%2Fpasswd".to_string(),
        "not-a-hash".to_string(),
        sha.to_uppercase(),
        sha[..63].to_string(),
        format!("{sha}0"),
        format!("{}g", &sha[..63]),
        format!("{sha}.part"),
        format!("{}%00", &sha[..61]),
        "%C3%A9".repeat(32),
    ];
    for name in &names {
        let path = format!("/api/v1/files/{name}");
        let response = tom
            .request(Method::PATCH, &path)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", "0")
            .header("upload-length", "1")
            .body("x")
            .send()
            .await
            .unwrap();
        let got = answer(response).await;
        assert!(
            got == refused(400, "bad_request") || got == refused(404, "not_found"),
            "PATCH {path}: {got}"
        );
        let head = tom.request(Method::HEAD, &path).send().await.unwrap();
        assert!(
            [StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND].contains(&head.status()),
            "HEAD {path}: {}",
            head.status()
        );
    }
    // Dot segments sent as they are (an HTTP client would resolve them first) find no route.
    for path in [
        "/api/v1/files/../../secret",
        "/api/v1/files/..%2f..%2fsecret",
        "/api/v1/files/%2e%2e/secret",
    ] {
        let status = raw_status(&server, path, &tom.token).await;
        assert!([400, 404].contains(&status), "{path}: {status}");
    }
    assert_eq!(std::fs::read(&outside).unwrap(), b"do not touch");
    let written: Vec<_> = std::fs::read_dir(server.files_dir())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "{written:?}");
}

store_test!(bodies_and_uploads_are_bounded);
async fn bodies_and_uploads_are_bounded(backend: Backend) {
    let limits = Limits {
        max_body: 16 * 1024,
        max_batch: 10,
        max_file: 64 * 1024,
        max_chunk: 8 * 1024,
        ..Limits::default()
    };
    let server = TestServer::start_with(backend, limits).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let review = status_conflict(&p, &p.tom, job).await;
    let newest = server.max_seq().await;
    let big = "x".repeat(32 * 1024);
    let too_large = || refused(413, "payload_too_large");

    let cases: Vec<(&str, reqwest::Response)> = vec![
        (
            "a push over the body limit",
            p.tom
                .post(
                    "/api/v1/sync/push",
                    json!({"changes": [serde_json::to_value(update(
                        RecordType::Job, job, Group::Description, 1, json!({"summary": big}),
                    )).unwrap()]}),
                )
                .await,
        ),
        (
            "a push of more changes than a batch holds",
            p.tom
                .post(
                    "/api/v1/sync/push",
                    json!({"changes": (0..11).map(|i| serde_json::to_value(update(
                        RecordType::Job, job, Group::Description, 1, json!({"summary": format!("take {i}")}),
                    )).unwrap()).collect::<Vec<_>>()}),
                )
                .await,
        ),
        (
            "a sign-in over the body limit",
            server
                .http
                .post(server.url("/api/v1/auth/login"))
                .json(&json!({"username": "tom", "password": big, "device_name": "desk"}))
                .send()
                .await
                .unwrap(),
        ),
        (
            "a resolution over the body limit",
            p.sam
                .resolve_raw(review, json!({"choice": "merged", "values": {"state": big}}))
                .await,
        ),
        (
            "a reopen over the body limit",
            p.sam
                .post(
                    &format!("/api/v1/records/job/{job}/reopen"),
                    json!({"reason": big}),
                )
                .await,
        ),
        (
            "a body that streams without a length",
            p.tom
                .request(Method::POST, "/api/v1/sync/push")
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures::stream::iter(
                    (0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])),
                )))
                .send()
                .await
                .unwrap(),
        ),
    ];
    for (what, response) in cases {
        let got = answer(response).await;
        assert_eq!(got, too_large(), "{what}");
    }

    let bytes = vec![7u8; 20 * 1024];
    let sha = hex::encode(Sha256::digest(&bytes));
    let patch = |length: usize, chunk: &[u8]| {
        p.tom
            .request(Method::PATCH, &format!("/api/v1/files/{sha}"))
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", "0")
            .header("upload-length", length.to_string())
            .body(chunk.to_vec())
            .send()
    };
    let cases = [
        (
            "a file declared over the file limit",
            patch(64 * 1024 + 1, &bytes[..1]).await.unwrap(),
        ),
        (
            "a chunk over the chunk limit",
            patch(bytes.len(), &bytes).await.unwrap(),
        ),
        (
            "a chunk past the declared length",
            patch(10, &bytes[..11]).await.unwrap(),
        ),
        (
            "a declared length no disk holds",
            patch(usize::MAX, &bytes[..1]).await.unwrap(),
        ),
    ];
    for (what, response) in cases {
        assert_eq!(answer(response).await, too_large(), "{what}");
    }
    assert_eq!(server.max_seq().await, newest, "nothing was written");
    assert!(std::fs::read_dir(server.files_dir())
        .map(|d| d.count() == 0)
        .unwrap_or(true));
}

/// Every row of every table of the store as text, to look for a secret in.
async fn everything_stored(server: &TestServer) -> String {
    match &server.database {
        None => {
            // The SQLite file and its write-ahead log, byte for byte.
            let dir = server.files_dir().parent().unwrap().to_path_buf();
            let mut all = Vec::new();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("fieldsync.db"))
                {
                    all.extend(std::fs::read(&path).unwrap());
                }
            }
            assert!(!all.is_empty(), "no database file in {}", dir.display());
            String::from_utf8_lossy(&all).into_owned()
        }
        Some(db) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let mut all = String::new();
            for table in tables {
                let rows: Option<String> = sqlx::query_scalar(&format!(
                    "SELECT string_agg(t::text, E'\\n') FROM \"{table}\" t"
                ))
                .fetch_one(&mut conn)
                .await
                .unwrap();
                all.push_str(&rows.unwrap_or_default());
            }
            all
        }
    }
}

store_test!(tokens_and_passwords_are_stored_hashed);
async fn tokens_and_passwords_are_stored_hashed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tom = server.login("tom").await;
    let rita = server.login_device("rita", "van tablet").await;
    // The server stores what it checks: the token's SHA-256 and the password's argon2 hash.
    let stored = everything_stored(&server).await;
    for (what, secret) in [
        ("tom's token", tom.token.as_str()),
        ("rita's token", rita.token.as_str()),
        ("the password", PASSWORD),
    ] {
        assert!(!stored.contains(secret), "{what} is stored in plain");
    }
    assert!(stored.contains(&fieldsync_server::auth::token_hash(&tom.token)));
    assert!(stored.contains("$argon2id$"));
    assert_eq!(tom.token.len(), 64, "256 random bits");
    assert_ne!(tom.token, rita.token);
    // And what is stored opens nothing: the hash is not a token.
    let response = server
        .anonymous(Method::GET, "/api/v1/sync/pull?after=0")
        .bearer_auth(fieldsync_server::auth::token_hash(&tom.token))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

// An event stream holds a connection for as long as the device likes: one device cannot take
// the server's sockets by opening them by the thousand.
store_test!(a_device_holds_a_few_event_streams_not_the_servers_sockets);
async fn a_device_holds_a_few_event_streams_not_the_servers_sockets(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        Limits {
            max_event_streams: 3,
            ..Limits::default()
        },
    )
    .await;
    let p = server.everyone().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(p.tom.events().await);
    }
    let refused = p.tom.get("/api/v1/events").await;
    assert!(refused.headers().contains_key("retry-after"));
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another device of the same person, and another person, are not held up by Tom's tablet.
    let tom_phone = server.login_device("tom", "tom's phone").await;
    let _phone_stream = tom_phone.events().await;
    let _rita_stream = p.rita.events().await;

    // A stream the device closes gives its place back (noticed at the next poke at the latest).
    drop(held.pop());
    let customer = p.olivia.new_customer("Harbour View").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let response = p.tom.get("/api/v1/events").await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            std::time::Instant::now() < deadline,
            "a closed stream's place did not come back within 20 s"
        );
        p.olivia
            .apply(update(
                RecordType::Customer,
                customer,
                Group::Profile,
                1,
                json!({"phone": "+44 1632 960001"}),
            ))
            .await;
    }
}

/// Reads a raw connection until the server closes it; how long that took.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> std::time::Duration {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut buf)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open for 20 s"),
        }
    }
}

/// Connections that never send a whole request (idle, or trickling a header a byte at a time)
/// are closed at the header deadline, so no one holds the server's sockets without asking for
/// anything; an event stream, which has asked, stays open past it.
#[tokio::test]
async fn a_connection_that_sends_no_request_in_time_is_closed() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        Limits {
            header_read_timeout: std::time::Duration::from_secs(1),
            ..Limits::default()
        },
    )
    .await;
    let p = server.everyone().await;
    let mut events = p.tom.events().await;
    assert!(events
        .next(std::time::Duration::from_secs(5))
        .await
        .is_some());
    let address = server.base.trim_start_matches("http://").to_string();

    let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    let took = until_closed(&mut idle).await;
    assert!(took < std::time::Duration::from_secs(10), "idle: {took:?}");

    let mut trickle = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = trickle.split();
    let request = b"GET /healthz HTTP/1.1\r\nHost: fieldsync\r\nX-Slow: ";
    let write = async {
        for byte in request.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let read = async {
        let mut buf = [0u8; 512];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        tokio::select! { () = write => {}, () = read => {} }
    })
    .await
    .expect("a header trickled a byte at a time kept the connection for 20 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // The event stream asked in time: it is still open and still pokes.
    p.olivia.new_customer("Harbour View").await;
    let newest = server.max_seq().await;
    let mut poked = events.next_poke(std::time::Duration::from_secs(10)).await;
    while poked < newest {
        poked = events.next_poke(std::time::Duration::from_secs(10)).await;
    }
    assert_eq!(
        p.tom.get("/api/v1/policy").await.status(),
        StatusCode::OK,
        "a request sent in time is answered"
    );
}
