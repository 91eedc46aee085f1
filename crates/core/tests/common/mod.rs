//! Fixtures shared by the core's test files: people, records and changes with fixed ids, so
//! every test is deterministic and reads in the domain's words.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

use fieldsync_core::model::GroupState;

/// A state by its wire name, for rows written as the wire writes them.
pub fn state_named(name: &str) -> fieldsync_core::State {
    fieldsync_core::State::parse(name).expect("a lifecycle state")
}
use fieldsync_core::{
    Author, Change, ChangeId, Group, Op, Owner, RecordId, RecordState, RecordType, Role,
};

pub const CUSTOMER: RecordId = RecordId(Uuid::from_u128(0xC001));
pub const JOB: RecordId = RecordId(Uuid::from_u128(0x1001));
pub const OTHER_JOB: RecordId = RecordId(Uuid::from_u128(0x1002));
pub const NEW_RECORD: RecordId = RecordId(Uuid::from_u128(0xAAAA));
pub const NOTE: RecordId = RecordId(Uuid::from_u128(0x2001));
pub const PART: RecordId = RecordId(Uuid::from_u128(0x3001));
pub const INVOICE: RecordId = RecordId(Uuid::from_u128(0x4001));

pub const PHOTO_SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

pub fn device_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_714_554_000, 0).unwrap_or_default()
}

fn person(user: &str, role: Role, team: Option<&str>) -> Author {
    Author {
        user: user.to_string(),
        role,
        team: team.map(str::to_string),
    }
}

/// The technician who owns the standard job now (epoch 2).
pub fn tom() -> Author {
    person("tom", Role::Technician, Some("field"))
}
/// The technician who owned the standard job at epoch 1, before it moved to tom.
pub fn ana() -> Author {
    person("ana", Role::Technician, Some("field"))
}
/// A technician who never owned the standard job.
pub fn bob() -> Author {
    person("bob", Role::Technician, Some("field"))
}
pub fn dan() -> Author {
    person("dan", Role::Dispatcher, Some("dispatch"))
}
pub fn sue() -> Author {
    person("sue", Role::Supervisor, Some("office"))
}
pub fn fay() -> Author {
    person("fay", Role::Finance, Some("finance"))
}
pub fn olly() -> Author {
    person("olly", Role::Office, Some("office"))
}
pub fn root() -> Author {
    person("root", Role::Admin, None)
}

pub fn group_state(version: i64, values: Value) -> GroupState {
    GroupState {
        version,
        values,
        contested: false,
    }
}

/// Tom's job, in progress, every group at version 3 (the signature at 1), moved from ana (epoch 1)
/// to tom (epoch 2).
pub fn job(state: &str) -> RecordState {
    let mut groups = BTreeMap::new();
    groups.insert(
        Group::Schedule,
        group_state(
            3,
            json!({
                "customer_id": CUSTOMER.to_string(),
                "site": "12 High St",
                "window_start": "2024-05-01T08:00:00Z",
                "assignee": "tom",
            }),
        ),
    );
    groups.insert(Group::Status, group_state(3, json!({ "state": state })));
    groups.insert(Group::Work, group_state(3, json!({ "labour_hours": 2 })));
    groups.insert(
        Group::Description,
        group_state(3, json!({ "summary": "leaking tap" })),
    );
    groups.insert(Group::Signature, group_state(1, json!({})));
    RecordState {
        record_type: RecordType::Job,
        record_id: JOB,
        number: Some("J-000248".into()),
        owner: Owner::User("tom".into()),
        owner_epoch: 2,
        state: state_named(state),
        groups,
        owner_history: BTreeMap::from([(1, Owner::User("ana".into()))]),
    }
}

/// A job owned by ana, in progress.
pub fn anas_job() -> RecordState {
    let mut record = job("in_progress");
    record.record_id = OTHER_JOB;
    record.number = Some("J-000249".into());
    record.owner = Owner::User("ana".into());
    record.owner_epoch = 1;
    record.owner_history = BTreeMap::new();
    record
}

pub fn contested(mut record: RecordState, group: Group) -> RecordState {
    if let Some(g) = record.groups.get_mut(&group) {
        g.contested = true;
    }
    record
}

pub fn customer() -> RecordState {
    RecordState {
        record_type: RecordType::Customer,
        record_id: CUSTOMER,
        number: Some("C-000012".into()),
        owner: Owner::Team("office".into()),
        owner_epoch: 1,
        state: fieldsync_core::State::Active,
        groups: BTreeMap::from([
            (Group::Profile, group_state(2, json!({ "name": "Acme" }))),
            (
                Group::Billing,
                group_state(2, json!({ "billing_contact": "Jo" })),
            ),
        ]),
        owner_history: BTreeMap::new(),
    }
}

pub fn invoice(state: &str) -> RecordState {
    RecordState {
        record_type: RecordType::Invoice,
        record_id: INVOICE,
        number: Some("INV-000007".into()),
        owner: Owner::Team("finance".into()),
        owner_epoch: 1,
        state: state_named(state),
        groups: BTreeMap::from([
            (
                Group::Totals,
                group_state(2, json!({ "total": 100, "currency": "EUR" })),
            ),
            (Group::Status, group_state(2, json!({ "state": state }))),
        ]),
        owner_history: BTreeMap::new(),
    }
}

/// Tom's note on the standard job.
pub fn note() -> RecordState {
    RecordState {
        record_type: RecordType::JobNote,
        record_id: NOTE,
        number: Some("N-000001".into()),
        owner: Owner::User("tom".into()),
        owner_epoch: 1,
        state: fieldsync_core::State::Active,
        groups: BTreeMap::from([(
            Group::Text,
            group_state(
                1,
                json!({ "job_id": JOB.to_string(), "text": "tap replaced" }),
            ),
        )]),
        owner_history: BTreeMap::new(),
    }
}

/// A part line on tom's job.
pub fn part_line() -> RecordState {
    RecordState {
        record_type: RecordType::PartLine,
        record_id: PART,
        number: Some("PL-000001".into()),
        owner: Owner::User("tom".into()),
        owner_epoch: 1,
        state: fieldsync_core::State::Active,
        groups: BTreeMap::from([(
            Group::Line,
            group_state(
                1,
                json!({ "job_id": JOB.to_string(), "part_number": "W-12", "quantity": 1 }),
            ),
        )]),
        owner_history: BTreeMap::new(),
    }
}

fn change(record_type: RecordType, record_id: RecordId, group: Option<Group>, op: Op) -> Change {
    Change {
        change_id: ChangeId(Uuid::from_u128(0xCAFE)),
        record_type,
        record_id,
        group,
        op,
        base_version: 0,
        values: json!({}),
        owner_epoch: 0,
        device_time: device_time(),
    }
}

/// A create of a new record with every group's first values.
pub fn create(record_type: RecordType, values: Value) -> Change {
    Change {
        values,
        ..change(record_type, NEW_RECORD, None, Op::Create)
    }
}

/// An update of the record of the fixtures with that type, made on `base` at epoch `epoch`.
pub fn update(
    record_type: RecordType,
    group: Group,
    base: i64,
    epoch: i64,
    values: Value,
) -> Change {
    Change {
        base_version: base,
        owner_epoch: epoch,
        values,
        ..change(record_type, id_of(record_type), Some(group), Op::Update)
    }
}

/// A void of the record of the fixtures with that type.
pub fn void(record_type: RecordType, base: i64, epoch: i64, values: Value) -> Change {
    Change {
        base_version: base,
        owner_epoch: epoch,
        values,
        ..change(record_type, id_of(record_type), None, Op::Void)
    }
}

pub fn id_of(record_type: RecordType) -> RecordId {
    match record_type {
        RecordType::Customer => CUSTOMER,
        RecordType::Job => JOB,
        RecordType::JobNote => NOTE,
        RecordType::PartLine => PART,
        RecordType::Invoice => INVOICE,
        _ => NEW_RECORD,
    }
}

/// A job's first values for a create.
pub fn new_job(site: &str, window_start: &str, assignee: Option<&str>) -> Value {
    let mut schedule = json!({
        "customer_id": CUSTOMER.to_string(),
        "site": site,
        "window_start": window_start,
    });
    if let Some(a) = assignee {
        schedule["assignee"] = json!(a);
    }
    json!({ "schedule": schedule, "description": { "summary": "boiler service" } })
}
