//! Residents and households: `household search|show|building|group`, `resident
//! add|update`, `conflicts`, `conflict show|resolve`. Lists mask ID numbers and phones;
//! `household show --unmasked` shows the household's residents in full.

use std::sync::Arc;

use gridworker_core::model::residents::Resolution;
use gridworker_core::worker::{
    ConflictView, HouseholdCard, NewResident, ResidentUpdate, ResidentView,
};
use gridworker_core::{GridWorker, SystemClock};
use serde_json::{Value, json};

use crate::args::{
    ConflictAction, ConflictArgs, ConflictsArgs, HouseholdAction, HouseholdArgs, ResidentAction,
    ResidentArgs, ResidentFields,
};
use crate::error::{CliError, CliResult};
use crate::home::Home;
use crate::output::Output;

fn open(home: &Home) -> CliResult<GridWorker> {
    let cfg = home.load()?;
    home.open(&cfg, Arc::new(SystemClock))
}

fn code<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn parse_code<T: serde::de::DeserializeOwned>(field: &str, s: &str) -> CliResult<T> {
    serde_json::from_value(Value::from(s))
        .map_err(|_| CliError::invalid(format!("invalid {field}: unknown code")))
}

fn tags(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn resident_json(r: &ResidentView) -> Value {
    json!({
        "id": r.id, "household_id": r.household_id, "name": r.name,
        "id_number": r.id_number, "phone": r.phone, "relation": code(&r.relation),
        "tags": r.tags, "status": code(&r.status), "notes": r.notes,
        "sex": r.sex.map(|s| s.code()), "birth_date": r.birth_date.map(|d| d.to_string()),
        "version": r.version, "masked": r.masked,
    })
}

fn card_json(c: &HouseholdCard) -> Value {
    json!({
        "id": c.household.id, "grid_code": c.household.grid_code,
        "building": c.household.building, "address": c.household.address,
        "tags": c.household.tags, "profile": c.profile, "living": c.living,
        "head_name": c.head_name, "open_conflicts": c.open_conflicts,
    })
}

fn conflict_json(v: &ConflictView) -> Value {
    let mut j = code(&v.conflict);
    j["resolving"] = Value::from(v.resolving);
    j
}

fn cards_output(items: &[HouseholdCard], next: Option<String>) -> Output {
    let human = items
        .iter()
        .map(|c| {
            format!(
                "{}  {}  {} living{}{}",
                c.household.id,
                c.household.address,
                c.living,
                c.head_name
                    .as_deref()
                    .map(|n| format!(", head {n}"))
                    .unwrap_or_default(),
                if c.open_conflicts > 0 {
                    format!(", {} conflict(s)", c.open_conflicts)
                } else {
                    String::new()
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Output::new(
        json!({"households": items.iter().map(card_json).collect::<Vec<_>>(), "next": next}),
        if human.is_empty() {
            "no households".to_string()
        } else {
            human
        },
    )
}

pub fn household(home: &Home, a: &HouseholdArgs) -> CliResult<Output> {
    let gw = open(home)?;
    match &a.action {
        HouseholdAction::Search {
            query,
            after,
            limit,
        } => {
            let p = gw.search_households(query, after.as_deref(), *limit)?;
            Ok(cards_output(&p.items, p.next))
        }
        HouseholdAction::Building {
            building,
            after,
            limit,
        } => {
            let p = gw.households_in_building(building, after.as_deref(), *limit)?;
            Ok(cards_output(&p.items, p.next))
        }
        HouseholdAction::Group { tag, after, limit } => {
            let p = gw.key_group_households(tag, after.as_deref(), *limit)?;
            Ok(cards_output(&p.items, p.next))
        }
        HouseholdAction::Show { id, unmasked } => {
            let d = gw.household_detail(id)?;
            let residents: Vec<ResidentView> = if *unmasked {
                d.residents
                    .iter()
                    .map(|r| gw.resident_unmasked(&r.id))
                    .collect::<Result<_, _>>()?
            } else {
                d.residents
            };
            let human = std::iter::once(format!(
                "{}  {}  ({})",
                d.household.id, d.household.address, d.household.building
            ))
            .chain(residents.iter().map(|r| {
                format!(
                    "  {}  {}  {}  {}  {}  {}",
                    r.id,
                    r.name,
                    code(&r.relation).as_str().unwrap_or(""),
                    r.id_number,
                    r.phone.as_deref().unwrap_or("-"),
                    code(&r.status).as_str().unwrap_or("")
                )
            }))
            .chain(
                d.conflicts
                    .iter()
                    .map(|c| format!("  conflict {} on {}", c.conflict.id, c.conflict.field)),
            )
            .collect::<Vec<_>>()
            .join("\n");
            Ok(Output::new(
                json!({
                    "household": d.household, "profile": d.profile,
                    "residents": residents.iter().map(resident_json).collect::<Vec<_>>(),
                    "conflicts": d.conflicts.iter().map(conflict_json).collect::<Vec<_>>(),
                }),
                human,
            ))
        }
    }
}

fn update_of(f: &ResidentFields) -> CliResult<ResidentUpdate> {
    Ok(ResidentUpdate {
        name: f.name.clone(),
        id_number: f.id_number.clone(),
        phone: f.phone.clone(),
        relation: f
            .relation
            .as_deref()
            .map(|r| parse_code("relation", r))
            .transpose()?,
        tags: f.tags.as_deref().map(tags),
        status: f
            .status
            .as_deref()
            .map(|s| parse_code("status", s))
            .transpose()?,
        notes: f.notes.clone(),
    })
}

pub fn resident(home: &Home, a: &ResidentArgs) -> CliResult<Output> {
    let gw = open(home)?;
    let r = match &a.action {
        ResidentAction::Add {
            household,
            name,
            id_number,
            phone,
            relation,
            tags: t,
            notes,
            visit,
        } => gw.add_resident(
            &NewResident {
                household_id: household.clone(),
                name: name.clone(),
                id_number: id_number.clone(),
                phone: phone.clone(),
                relation: parse_code("relation", relation)?,
                tags: t.as_deref().map(tags).unwrap_or_default(),
                notes: notes.clone(),
            },
            visit.as_deref(),
        )?,
        ResidentAction::Update { id, fields, visit } => {
            gw.update_resident(id, update_of(fields)?, visit.as_deref())?
        }
    };
    Ok(Output::new(
        resident_json(&r),
        format!("resident {} recorded (pending sync)", r.id),
    ))
}

pub fn conflicts(home: &Home, a: &ConflictsArgs) -> CliResult<Output> {
    let gw = open(home)?;
    let p = gw.conflicts_page(a.all, a.after.as_deref(), a.limit)?;
    let human = p
        .items
        .iter()
        .map(|c| {
            format!(
                "{}  {} {}  {}: mine {} / theirs {}{}",
                c.conflict.id,
                c.conflict.entity.code(),
                c.conflict.entity_id,
                c.conflict.field,
                c.conflict.mine,
                c.conflict.theirs,
                if c.resolving { " (resolving)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Output::new(
        json!({"conflicts": p.items.iter().map(conflict_json).collect::<Vec<_>>(), "next": p.next}),
        if human.is_empty() {
            "no conflicts".to_string()
        } else {
            human
        },
    ))
}

pub fn conflict(home: &Home, a: &ConflictArgs) -> CliResult<Output> {
    let gw = open(home)?;
    let v = match &a.action {
        ConflictAction::Show { id } => gw.conflict(id)?,
        ConflictAction::Resolve { id, take, value } => {
            let (take, value) = match (take.as_deref(), value) {
                (Some("mine"), None) => (Resolution::Mine, None),
                (Some("theirs"), None) => (Resolution::Theirs, None),
                (None, Some(v)) => {
                    // A value of the conflict's field: tags as a comma list, a number as
                    // itself, anything else as text ("" clears a phone).
                    let field = gw.conflict(id)?.conflict.field;
                    let v = match field.as_str() {
                        "tags" => json!(tags(v)),
                        "resident_count" => json!(v.parse::<u32>().map_err(|_| {
                            CliError::invalid("invalid value: not a whole number")
                        })?),
                        "phone" | "contact_phone" if v.is_empty() => Value::Null,
                        _ => Value::from(v.clone()),
                    };
                    (Resolution::Value, Some(v))
                }
                _ => {
                    return Err(CliError::invalid(
                        "give exactly one of --take mine|theirs or --value V",
                    ));
                }
            };
            gw.resolve_conflict(id, take, value)?
        }
    };
    Ok(Output::new(
        conflict_json(&v),
        format!(
            "conflict {} on {}: {}",
            v.conflict.id,
            v.conflict.field,
            if v.resolving {
                "resolved here, pending sync"
            } else {
                "see --json"
            }
        ),
    ))
}

/// A scenario's `resident` step: an edit (`resident` + `set`) or an addition (`household` +
/// `add`), linked to `visit`.
pub fn record_step(
    gw: &GridWorker,
    step: &gridworker_fixtures::scenario::ResidentStep,
    visit: Option<&str>,
) -> CliResult<ResidentView> {
    match (&step.resident, &step.household, &step.add) {
        (Some(id), None, None) => {
            let text = |k: &str| step.set.get(k).and_then(Value::as_str).map(str::to_string);
            let mut fields = ResidentFields {
                name: text("name"),
                id_number: text("id_number"),
                phone: text("phone"),
                relation: text("relation"),
                tags: None,
                status: text("status"),
                notes: text("notes"),
            };
            if let Some(t) = step.set.get("tags").and_then(Value::as_array) {
                let list: Vec<&str> = t.iter().filter_map(Value::as_str).collect();
                fields.tags = Some(list.join(","));
            }
            if let Some(k) = step.set.keys().find(|k| {
                ![
                    "name",
                    "id_number",
                    "phone",
                    "relation",
                    "tags",
                    "status",
                    "notes",
                ]
                .contains(&k.as_str())
            }) {
                return Err(CliError::invalid(format!(
                    "resident step: unknown field {k}"
                )));
            }
            Ok(gw.update_resident(id, update_of(&fields)?, visit)?)
        }
        (None, Some(household), Some(a)) => Ok(gw.add_resident(
            &NewResident {
                household_id: household.clone(),
                name: a.name.clone(),
                id_number: a.id_number.clone(),
                phone: a.phone.clone(),
                relation: parse_code("relation", &a.relation)?,
                tags: a.tags.clone(),
                notes: String::new(),
            },
            visit,
        )?),
        _ => Err(CliError::invalid(
            "resident step: give `resident` with `set`, or `household` with `add`",
        )),
    }
}
