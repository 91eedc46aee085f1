//! The devices the office sees, behind every owner's name: the server's device list (kept in the
//! cache for when the server is unreachable) and an owner as a dispatcher needs to see them
//! (name, team, device, last seen, unsynced changes). The board, the job page, the session
//! (which refreshes the list at sign-in and at "Sync now") and `live` (after sync rounds, so
//! the owner column follows other devices without anyone opening a dialog) use it.

use chrono::SecondsFormat;
use fieldsync_core::model::may_list_devices;
use fieldsync_core::wire::DeviceInfo;
use fieldsync_core::Owner;

use crate::views::OwnerView;
use crate::App;

impl App {
    /// Reads the server's device list (for the roles that may see it); without the server, the
    /// list kept in the cache. Answers whether the list the office sees changed, so the change
    /// notices (`live`) tell the owner column only when there is something new.
    pub(crate) async fn refresh_devices(&self) -> bool {
        if !self.role().is_some_and(may_list_devices) {
            return false;
        }
        let Ok(client) = self.active() else {
            return false;
        };
        let list = match client.devices().await {
            Ok(list) => {
                // Kept for when the server is away; written only when it moved (the schedule
                // board reads the list on every read, and a write is a disk flush).
                let same = *self.devices.lock().unwrap_or_else(|p| p.into_inner()) == list;
                if !same {
                    if let Ok(saved) = serde_json::to_string(&list) {
                        let _ = client.cache().set_meta("devices", &saved).await;
                    }
                }
                list
            }
            Err(_) => {
                if !self
                    .devices
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_empty()
                {
                    return false;
                }
                match client.cache().meta("devices").await {
                    Ok(Some(saved)) => match serde_json::from_str::<Vec<DeviceInfo>>(&saved) {
                        Ok(list) => list,
                        Err(_) => return false,
                    },
                    _ => return false,
                }
            }
        };
        let mut shown = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        let changed = serde_json::to_value(&*shown).ok() != serde_json::to_value(&list).ok();
        *shown = list;
        changed
    }

    /// An owner with their newest device, its last pull and the changes waiting on it.
    pub(crate) fn owner_view(&self, owner: &Owner) -> OwnerView {
        let devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        match owner {
            Owner::User(name) => {
                let mine: Vec<&DeviceInfo> = devices
                    .iter()
                    .filter(|d| d.user == *name && d.revoked_at.is_none())
                    .collect();
                let newest = mine.iter().max_by_key(|d| d.last_seen);
                let unsynced: i64 = mine.iter().filter_map(|d| d.outbox_depth).sum();
                OwnerView {
                    kind: "user".into(),
                    name: name.clone(),
                    display_name: newest
                        .map(|d| d.display_name.clone())
                        .unwrap_or_else(|| name.clone()),
                    team: newest.and_then(|d| d.team.clone()),
                    device: newest.map(|d| d.name.clone()),
                    last_seen: newest
                        .and_then(|d| d.last_seen)
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
                    unsynced: if mine.is_empty() {
                        None
                    } else {
                        Some(unsynced)
                    },
                }
            }
            Owner::Team(team) => OwnerView {
                kind: "team".into(),
                name: team.clone(),
                display_name: format!("{team} team"),
                team: Some(team.clone()),
                device: None,
                last_seen: None,
                unsynced: None,
            },
        }
    }
}
