//! Command-line grammar (clap). The contract QA scripts rely on: `--home` and `--json` are
//! global (before or after the subcommand), numbers are parsed strictly, and every parse error
//! exits with code 2.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use gridworker_core::geo::Crs;

#[derive(Debug, Parser)]
#[command(
    name = "gridworker",
    version,
    about = "QA command line over the gridworker core: record, sync, inspect, replay scenarios, run the demo.",
    after_help = "Exit codes: 0 ok, 2 invalid input (nothing written), 3 network unavailable or failed \
                  (work stays queued), 4 authentication refused, 5 store locked (encrypted, key missing \
                  or wrong; nothing changed), 6 update required (the server needs a newer protocol; \
                  work stays queued), 1 anything else.\n\
                  Key: --key-file FILE (32 raw bytes or 64 hex digits) or GRIDWORKER_KEY (64 hex digits)."
)]
pub struct Cli {
    /// The device's data directory.
    #[arg(long, global = true, env = "GRIDWORKER_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Machine-readable output on stdout (errors as {"error": {"kind", "message"}}).
    #[arg(long, global = true)]
    pub json: bool,

    /// The store's key: a file of 32 raw bytes or 64 hex digits (else $GRIDWORKER_KEY).
    /// `init` with a key creates an encrypted store.
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up a device home (offline: never contacts the server).
    Init(InitArgs),
    /// Load reference data (grids, points, households) from a fixture district, offline.
    Seed(SeedArgs),
    /// Check in at an inspection point.
    Checkin(CheckinArgs),
    /// Record a household visit.
    Visit(VisitArgs),
    /// File a photo report (随手拍).
    Report(ReportArgs),
    /// Run one full sync with the server.
    Sync(SyncArgs),
    /// What is pending, synced and rejected.
    Status,
    /// List recorded check-ins, visits, reports or tasks.
    List(ListArgs),
    /// Patrol progress for a day or an ISO week.
    Progress(ProgressArgs),
    /// Inspection points nearest to a position (answers in WGS-84).
    Nearby(NearbyArgs),
    /// Convert a coordinate between WGS-84, GCJ-02 and BD-09.
    Coords(CoordsArgs),
    /// Draw the worker's day as an SVG map.
    Map(MapArgs),
    /// Replay a scenario file against a server and report on it.
    Scenario(ScenarioArgs),
    /// Run the whole story against an in-process reference server.
    Demo(DemoArgs),
    /// Salvage a damaged store into a new one (keeps the damaged file; prints counts).
    Recover,
    /// Erase everything the core wrote in the home's data directory (needs --yes).
    Wipe(WipeArgs),
    /// Re-encrypt the store (database and photos) under a new key; a plain store becomes
    /// encrypted. Keep the old key until this succeeds.
    Rekey(RekeyArgs),
    /// Check a sync server (yours or ours) against docs/protocol.md and print a pass/fail
    /// table; exit 0 only if every check that ran passed. Safe to run again: each run uses
    /// fresh devices, records and photos.
    Conformance(ConformanceArgs),
    /// Patrol sessions (巡查): start, pause, resume, stop.
    Patrol(PatrolArgs),
    /// The patrol track: add fixes from a CSV or GPX file, or show a day's summary.
    Track(TrackArgs),
    /// Look households up (search, building, key group) or show one with its residents.
    Household(HouseholdArgs),
    /// Add a resident or change a resident's fields (recorded offline, synced later).
    Resident(ResidentArgs),
    /// List conflicts (fields changed here and by the back office to different values).
    Conflicts(ConflictsArgs),
    /// Show or resolve one conflict.
    Conflict(ConflictArgs),
}

#[derive(Debug, Args)]
pub struct HouseholdArgs {
    #[command(subcommand)]
    pub action: HouseholdAction,
}

#[derive(Debug, Subcommand)]
pub enum HouseholdAction {
    /// Households whose address, building, residents' names, phones or ID numbers contain
    /// QUERY (the last digits of a phone or ID number find it).
    Search {
        query: String,
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One household with its residents (ID numbers and phones masked unless --unmasked)
    /// and open conflicts.
    Show {
        id: String,
        #[arg(long)]
        unmasked: bool,
    },
    /// The households of a building.
    Building {
        building: String,
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The worker's households in a key group (低保, disability, veteran, elderly_alone…).
    Group {
        tag: String,
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
pub struct ResidentArgs {
    #[command(subcommand)]
    pub action: ResidentAction,
}

/// The fields `resident update` may change.
#[derive(Debug, Args)]
pub struct ResidentFields {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub id_number: Option<String>,
    /// A mainland mobile or landline number; "" removes it.
    #[arg(long)]
    pub phone: Option<String>,
    /// head, spouse, child, parent, grandparent, grandchild, sibling, other_relative,
    /// tenant, other.
    #[arg(long)]
    pub relation: Option<String>,
    /// Key-group tags, comma-separated (the whole new list; "" clears).
    #[arg(long)]
    pub tags: Option<String>,
    /// living, moved_out, deceased.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub notes: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ResidentAction {
    /// Register a resident of a household.
    Add {
        #[arg(long)]
        household: String,
        #[arg(long)]
        name: String,
        /// 18-character ID number (GB 11643-1999).
        #[arg(long)]
        id_number: String,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long, default_value = "other")]
        relation: String,
        /// Key-group tags, comma-separated.
        #[arg(long)]
        tags: Option<String>,
        #[arg(long, default_value = "")]
        notes: String,
        /// The visit during which it was collected.
        #[arg(long)]
        visit: Option<String>,
    },
    /// Change fields of a resident (e.g. --phone, --tags, --status moved_out).
    Update {
        id: String,
        #[command(flatten)]
        fields: ResidentFields,
        #[arg(long)]
        visit: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Resolved ones too.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub after: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct ConflictArgs {
    #[command(subcommand)]
    pub action: ConflictAction,
}

#[derive(Debug, Subcommand)]
pub enum ConflictAction {
    /// One conflict with its values in full.
    Show { id: String },
    /// Resolve: --take mine|theirs, or --value V (a new value of the field).
    Resolve {
        id: String,
        #[arg(long, value_parser = ["mine", "theirs"])]
        take: Option<String>,
        #[arg(long, conflicts_with = "take")]
        value: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct PatrolArgs {
    pub action: PatrolAction,
    /// When (RFC 3339); default now.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PatrolAction {
    Start,
    Pause,
    Resume,
    Stop,
}

#[derive(Debug, Args)]
pub struct TrackArgs {
    #[command(subcommand)]
    pub action: TrackAction,
}

#[derive(Debug, Subcommand)]
pub enum TrackAction {
    /// Add fixes from FILE: CSV with a header `time,lat,lon,accuracy` and optional `crs`
    /// (wgs84 by default) and `mock` columns, or GPX 1.1 (`.gpx`). Only on patrol.
    Add { file: std::path::PathBuf },
    /// The day's patrol: distance_m, patrol_s, in_grid_s, coverage, gaps, points_passed,
    /// flags (each with kind and time range).
    Show {
        /// Local day, YYYY-MM-DD (default today).
        #[arg(long, value_parser = parse_day)]
        day: Option<NaiveDate>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    /// The server's base URL (https://…; http:// needs --allow-http).
    #[arg(long)]
    pub server: String,
    /// A worker and its bearer token, `WORKER=TOKEN`. A second one enables the checks that
    /// involve another worker's task (with --admin-token).
    #[arg(long = "token-for", value_name = "WORKER=TOKEN", required = true)]
    pub token_for: Vec<String>,
    /// The reference server's admin token: enables the checks that set data up through its
    /// admin API. A vendor server without that API skips them.
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Allow a plain-HTTP server (a local test server).
    #[arg(long)]
    pub allow_http: bool,
    /// A shell command that backs up the server's data and returns once it answers again.
    /// With --restore-command it enables the restore and cursor-expiry checks.
    #[arg(long, value_name = "COMMAND")]
    pub backup_command: Option<String>,
    /// A shell command that restores the last backup and returns once the server answers.
    #[arg(long, value_name = "COMMAND")]
    pub restore_command: Option<String>,
    /// A shell command that wipes the server's data (it starts afresh with a new server_id)
    /// and returns once it answers. Enables the reset check.
    #[arg(long, value_name = "COMMAND")]
    pub wipe_command: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RekeyArgs {
    /// The new key: 32 raw bytes or 64 hex digits.
    #[arg(long, value_name = "FILE")]
    pub new_key_file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct WipeArgs {
    /// Confirm: records not yet synced are lost for good.
    #[arg(long)]
    pub yes: bool,
}

/// Parses a coordinate system name.
fn parse_crs(s: &str) -> Result<Crs, String> {
    Crs::parse(s).ok_or_else(|| format!("unknown coordinate system '{s}' (wgs84, gcj02, bd09)"))
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e})"))
}

fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "expected YYYY-MM-DD".to_string())
}

fn parse_week(s: &str) -> Result<(i32, u32), String> {
    gridworker_core::progress::parse_iso_week(s)
        .ok_or_else(|| "expected an ISO week YYYY-Www, e.g. 2024-W46".to_string())
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Base URL of the sync server.
    #[arg(long)]
    pub server: String,
    #[arg(long)]
    pub worker: String,
    #[arg(long)]
    pub device: String,
    /// Bearer token, stored in clear text in the home: QA tokens only.
    #[arg(long)]
    pub token: Option<String>,
    /// Allow an http:// server (local QA only).
    #[arg(long)]
    pub allow_http: bool,
    /// Offset of local time from UTC in minutes (days and weeks are counted in local time);
    /// used when --time-zone is not given.
    #[arg(long, default_value_t = 480, allow_negative_numbers = true)]
    pub utc_offset_minutes: i32,
    /// The district's IANA time zone (Asia/Shanghai, Asia/Urumqi, ...): days and weeks are
    /// counted in it; another id exits 2.
    #[arg(long)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Fixture district directory (e.g. fixtures/district-small).
    #[arg(long, value_name = "DIR")]
    pub district: PathBuf,
}

/// The fix the phone hands over, and when.
#[derive(Debug, Args, Clone)]
pub struct FixArgs {
    #[arg(long, allow_negative_numbers = true)]
    pub lat: f64,
    #[arg(long, allow_negative_numbers = true)]
    pub lon: f64,
    /// Horizontal accuracy in metres.
    #[arg(long, allow_negative_numbers = true)]
    pub accuracy: f64,
    /// Coordinate system of --lat/--lon.
    #[arg(long, default_value = "wgs84", value_parser = parse_crs)]
    pub crs: Crs,
    /// The platform marked the fix as mock / simulated.
    #[arg(long)]
    pub mock: bool,
    /// True time of the fix and of the record (RFC 3339); default now.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
    /// The device wall clock is this many seconds off true time (a clock set by hand), at
    /// most 100 years either way.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-3_155_760_000..=3_155_760_000))]
    pub clock_offset: i64,
}

#[derive(Debug, Args)]
pub struct CheckinArgs {
    /// Inspection point id.
    #[arg(long)]
    pub point: String,
    #[command(flatten)]
    pub fix: FixArgs,
}

#[derive(Debug, Args)]
pub struct VisitArgs {
    /// Household id.
    #[arg(long)]
    pub household: String,
    /// routine, information_collection, care_visit, mediation, safety_check, other.
    #[arg(long, default_value = "routine")]
    pub kind: String,
    #[arg(long, default_value = "")]
    pub note: String,
    #[command(flatten)]
    pub fix: FixArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Category code (leaking_manhole, illegal_construction, dumped_waste, ...).
    #[arg(long)]
    pub category: String,
    #[arg(long)]
    pub text: String,
    /// Photo file (1 to 9).
    #[arg(long = "photo", required = true, value_name = "FILE")]
    pub photos: Vec<PathBuf>,
    /// Add to an existing report (following a duplicate hint).
    #[arg(long)]
    pub attach_to: Option<String>,
    #[command(flatten)]
    pub fix: FixArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NetworkArg {
    None,
    Cellular,
    Wifi,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The network the phone is on (none fails fast with exit 3).
    #[arg(long, value_enum, default_value = "wifi")]
    pub network: NetworkArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListKind {
    Checkins,
    Visits,
    Reports,
    Tasks,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(value_enum)]
    pub what: ListKind,
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// Local day, YYYY-MM-DD (default today).
    #[arg(long, value_parser = parse_day, conflicts_with = "week")]
    pub day: Option<NaiveDate>,
    /// ISO week, YYYY-Www.
    #[arg(long, value_parser = parse_week)]
    pub week: Option<(i32, u32)>,
}

#[derive(Debug, Args)]
pub struct NearbyArgs {
    #[arg(long, allow_negative_numbers = true)]
    pub lat: f64,
    #[arg(long, allow_negative_numbers = true)]
    pub lon: f64,
    /// Coordinate system of --lat/--lon.
    #[arg(long, default_value = "wgs84", value_parser = parse_crs)]
    pub crs: Crs,
    #[arg(long, default_value_t = 5)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct CoordsArgs {
    #[arg(long, value_parser = parse_crs)]
    pub from: Crs,
    #[arg(long, value_parser = parse_crs)]
    pub to: Crs,
    #[arg(allow_negative_numbers = true)]
    pub lat: f64,
    #[arg(allow_negative_numbers = true)]
    pub lon: f64,
}

#[derive(Debug, Args)]
pub struct MapArgs {
    /// Local day, YYYY-MM-DD (default: the day of the latest record, else today).
    #[arg(long, value_parser = parse_day)]
    pub day: Option<NaiveDate>,
    /// Where to write the SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario file (see fixtures/README.md).
    pub file: PathBuf,
    /// Server to replay against (seeded with the scenario's district); default: an
    /// in-process reference server on a free loopback port.
    #[arg(long)]
    pub server: Option<String>,
    /// Worker token for --server.
    #[arg(long)]
    pub token: Option<String>,
    /// Admin token for --server (to read back what it holds; without it the server-side
    /// counts are not checked).
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Write the day's map here.
    #[arg(long, value_name = "FILE.svg")]
    pub map: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Fixture directory (holds district-small/, photos/, scenarios/).
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Where to put the device home and the map (default: ./out/demo-<time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}
