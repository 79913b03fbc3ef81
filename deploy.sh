#!/usr/bin/env bash
# Sets up and deploys pushrun in one Google Cloud project with gcloud. Safe to run again: every
# resource is looked up first and created only when missing; functions are redeployed.
#
#   ./deploy.sh --project P --region R [--config FILE] [--webhook-secret NAME]
#               [--firestore-location L] [--dry-run]
#
# What it does, in order:
#   1. validates the config (`pushrun config validate`, building the CLI first if needed), and
#      stops before changing anything when a mapping's images live in another project than
#      --project (that project's gcr topic never reaches pushrun), when the Batch events topic is
#      in another project, or when the config or a jobFile would be left out of the upload;
#   2. enables the APIs;
#   3. creates the topics: gcr (Artifact Registry publishes there), the Batch events topic, the
#      notifications topic, pushrun-reconcile (Cloud Scheduler ticks) and pushrun-dead-letter
#      with a pull subscription of the same name that keeps dead letters 7 days;
#   4. creates least-privilege service accounts and grants their roles:
#        pushrun-launcher  runs onImagePush: creates Batch jobs that run as pushrun-jobs (or as
#                          the account a mapping's template names), announces skipped runs
#        pushrun-recorder  runs onJobStateChange and reconcileRuns: reads jobs, writes runs
#        pushrun-jobs      the Batch job VMs: report to Batch, write logs, pull images, publish
#                          their JOB_STATE_CHANGED messages
#        pushrun-invoker   the Eventarc trigger identity: may only invoke the three functions
#      Project-level roles only where the resource cannot be narrowed (Batch, Firestore, the
#      jobs' logs); everything else is bound on the one resource that needs it: the topics, the
#      Artifact Registry repositories the mappings name (project-wide, with the reason printed,
#      only for a mapping whose glob spans repositories), the job service accounts, the
#      webhook secret, each function's Cloud Run service and trigger subscription. The functions
#      log JSON to stdout, which needs no role. Each resource's IAM policy is read once and only
#      the missing bindings are added, so a second run adds none; resources are granted side by
#      side;
#   5. creates the (default) Firestore database in native mode when missing, then the composite
#      indexes the run store's queries need (real Firestore refuses a query without its index;
#      the emulator does not check): the existing ones are listed and only the missing ones are
#      created, asynchronously (they build in the background for a few minutes);
#   6. deploys the three gen2 functions (runtime nodejs22, internal ingress, authenticated,
#      retried, the webhook secret on each: all three notify) side by side, grants
#      pushrun-invoker run.invoker on each, and sets a dead-letter policy on the Pub/Sub
#      subscription Eventarc made for each trigger (Eventarc takes no dead-letter flag, so the
#      subscription it created is updated in place; this is repeated after every deploy);
#      Then it applies the config as a live version (`pushrun config apply --message deploy`)
#      when it differs from the live one: the functions follow the newest version;
#   7. creates or updates the Cloud Scheduler job pushrun-reconcile (every 10 minutes).
#
# Source upload: `--source=.` with .gcloudignore. The upload holds the TypeScript sources,
# tsconfig.json, the package files and config/; build/, node_modules/, test/ and bench/ stay
# home. Cloud Build installs the dependencies and runs `npm run gcp-build` (tsc), so the
# functions run exactly what was uploaded, never a stale local build/. The config file must
# therefore live inside this directory, and be uploaded (`gcloud meta list-files-for-upload`
# says); its path is passed to the functions as PUSHRUN_CONFIG.
#
# --dry-run prints every gcloud command (`+ gcloud ...`) as if nothing existed yet and runs
# none of them; it still validates the config, which talks to nothing remote.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT_DIR

# nodejs20 was decommissioned on 2026-10-30: no new deploys or updates. nodejs22 is supported
# until 2027-10-31 (https://cloud.google.com/functions/docs/runtime-support).
readonly FUNCTIONS_RUNTIME=nodejs22
readonly GCR_TOPIC=gcr
readonly RECONCILE_TOPIC=pushrun-reconcile
readonly DEAD_LETTER_TOPIC=pushrun-dead-letter
readonly SCHEDULER_JOB=pushrun-reconcile
readonly RECONCILE_SCHEDULE='*/10 * * * *'
# With Eventarc's backoff (10 s doubling to 600 s), 15 attempts span about 1.5 hours: longer
# than PUSHRUN_MAX_EVENT_AGE (1h), so only events a function never manages to handle end here.
readonly MAX_DELIVERY_ATTEMPTS=15
readonly APIS=(
  batch.googleapis.com
  artifactregistry.googleapis.com
  pubsub.googleapis.com
  cloudfunctions.googleapis.com
  run.googleapis.com
  eventarc.googleapis.com
  cloudbuild.googleapis.com
  firestore.googleapis.com
  cloudscheduler.googleapis.com
  containerfilesystem.googleapis.com
  logging.googleapis.com
  iam.googleapis.com
)
# The composite indexes behind the run store's queries (shared/runs/firestore_store.ts), one
# per line as FIELD:ORDER words: `list` filters on one of mapping, image, state or open and
# orders by createdAt descending; `listOpen` takes open runs older than a time, oldest first,
# then by document id (__name__); a run notification asks for its mapping's latest pulled runs
# (mapping and streaming.enabled). `runs stats` (`listSince`) needs none of its own: it uses
# the mapping index, or the automatic one on createdAt.
readonly RUNS_COLLECTION=pushrun-runs
readonly RUNS_INDEXES=(
  'mapping:ascending createdAt:descending'
  'image:ascending createdAt:descending'
  'state:ascending createdAt:descending'
  'open:ascending createdAt:descending'
  'open:ascending createdAt:ascending __name__:ascending'
  'mapping:ascending streaming.enabled:ascending createdAt:descending'
)

usage() {
  cat <<'EOF'
Usage: deploy.sh --project PROJECT --region REGION [options]

Sets up and deploys pushrun (topics, service accounts, Firestore, three Cloud Functions
gen2 and a Cloud Scheduler job) with gcloud. Running it again changes nothing that is in place.

Required:
  --project PROJECT          Google Cloud project id
  --region REGION            region of the functions, the scheduler job and (by default) Firestore

Options:
  --config FILE              pushrun config inside this directory (default: config/pushrun.yaml)
  --webhook-secret NAME      Secret Manager secret holding the Chat/Slack webhook URL; given to
                             all three functions (each sends notifications) as PUSHRUN_WEBHOOK_URL
  --firestore-location LOC   location for a new Firestore database (default: REGION)
  --dry-run                  print every gcloud command and run none
  -h, --help                 show this help
EOF
}

die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

usage_error() {
  echo "deploy.sh: $*" >&2
  echo "Try 'deploy.sh --help'." >&2
  exit 2
}

project=''
region=''
config='config/pushrun.yaml'
webhook_secret=''
firestore_location=''
dry_run=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project | --region | --config | --webhook-secret | --firestore-location)
      [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"
      case "$1" in
        --project) project="$2" ;;
        --region) region="$2" ;;
        --config) config="$2" ;;
        --webhook-secret) webhook_secret="$2" ;;
        --firestore-location) firestore_location="$2" ;;
      esac
      shift 2
      ;;
    --project=* | --region=* | --config=* | --webhook-secret=* | --firestore-location=*)
      value="${1#*=}"
      [[ -n "$value" ]] || usage_error "${1%%=*} needs a value"
      case "$1" in
        --project=*) project="$value" ;;
        --region=*) region="$value" ;;
        --config=*) config="$value" ;;
        --webhook-secret=*) webhook_secret="$value" ;;
        --firestore-location=*) firestore_location="$value" ;;
      esac
      shift
      ;;
    --dry-run)
      dry_run=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done

[[ -n "$project" ]] || usage_error "--project is required"
[[ -n "$region" ]] || usage_error "--region is required"
[[ -n "$firestore_location" ]] || firestore_location="$region"

# The config is uploaded with the sources, so it must sit inside ROOT_DIR; the functions get
# its path relative to the source root.
[[ -f "$config" ]] || die "config file not found: $config"
config_abs="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
case "$config_abs" in
  "$ROOT_DIR"/*) config_rel="${config_abs#"$ROOT_DIR"/}" ;;
  *) die "the config must be inside $ROOT_DIR (it is uploaded with the functions): $config" ;;
esac
cd "$ROOT_DIR"

readonly LAUNCHER_SA="pushrun-launcher@${project}.iam.gserviceaccount.com"
readonly RECORDER_SA="pushrun-recorder@${project}.iam.gserviceaccount.com"
readonly JOBS_SA="pushrun-jobs@${project}.iam.gserviceaccount.com"
readonly INVOKER_SA="pushrun-invoker@${project}.iam.gserviceaccount.com"

export CLOUDSDK_CORE_DISABLE_PROMPTS=1

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# Commands are shown on fd 3 (stdout), so showing a lookup does not mix into its captured value.
exec 3>&1

# Shows one command the way a shell would take it back.
show() {
  local out='+' arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
      out+=" $arg"
    else
      out+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "$out" >&3
}

# Runs a gcloud command that changes something; in a dry run only prints it.
gc() {
  show gcloud "$@"
  [[ "$dry_run" -eq 1 ]] && return 0
  gcloud "$@"
}

# Runs gcloud and prints its output (a lookup, or a deploy whose result is read back); in a dry
# run prints the command and $PLACEHOLDER instead.
lookup() {
  show gcloud "$@"
  if [[ "$dry_run" -eq 1 ]]; then
    printf '%s\n' "$PLACEHOLDER"
    return 0
  fi
  gcloud "$@"
}

# Runs gcloud quietly: 0 on success, 1 when its error matches the pattern $1 (an answer the
# caller expects), and stops the script with "$2: gcloud ..." on any other error.
run_expecting() {
  local pattern="$1" what="$2" err
  shift 2
  if err="$(gcloud "$@" 2>&1 >/dev/null)"; then
    return 0
  fi
  if grep -qiE "$pattern" <<<"$err"; then
    return 1
  fi
  printf '%s\n' "$err" >&2
  die "$what: gcloud $*"
}

# Succeeds when a describe command finds its resource, fails when the answer is NOT_FOUND, and
# stops the script on any other error (permission, network) rather than guessing.
# A dry run prints the command and answers "missing".
exists() {
  show gcloud "$@"
  [[ "$dry_run" -eq 1 ]] && return 1
  run_expecting 'NOT_FOUND|not found|does not exist|NotFound' \
    'could not tell whether this exists' "$@"
}

# Creates a resource; a create that loses a race to another deploy ("already exists") is fine.
create() {
  show gcloud "$@"
  [[ "$dry_run" -eq 1 ]] && return 0
  run_expecting 'ALREADY_EXISTS|already exists' 'failed' "$@" || true
}

# Runs gcloud and prints its output, stopping the script with "$1: gcloud ..." on an error. A
# service account created seconds ago can be unknown to IAM for a while, so an answer that says
# it "does not exist" (or is an unknown service account) is retried for about a minute first.
patient() { # WHAT ARGS...
  local what="$1" attempt out errors
  shift
  errors="$(mktemp -p "$work_dir")"
  for attempt in 1 2 3 4 5 6; do
    if out="$(gcloud "$@" 2>"$errors")"; then
      printf '%s\n' "$out"
      return 0
    fi
    grep -qiE 'does not exist|unknown service account' "$errors" || break
    [[ "$attempt" -lt 6 ]] && sleep $((attempt * 4))
  done
  cat "$errors" >&2
  die "$what: gcloud $*"
}

# Adds one IAM binding; in a dry run only prints it.
bind() {
  show gcloud "$@"
  [[ "$dry_run" -eq 1 ]] && return 0
  patient failed "$@" >/dev/null
}

# Prints the MEMBER ROLE pairs among the arguments that the IAM policy (JSON) on stdin does not
# grant yet, one "MEMBER ROLE" a line. Only a binding without a condition counts.
missing_bindings() {
  node -e '
    const text = require("fs").readFileSync(0, "utf8").trim();
    const bindings = (text ? JSON.parse(text) : {}).bindings || [];
    const args = process.argv.slice(1);
    const seen = new Set();
    for (let i = 0; i + 1 < args.length; i += 2) {
      const [member, role] = [args[i], args[i + 1]];
      const granted = bindings.some(
        b => b.role === role && !b.condition && (b.members || []).includes(member),
      );
      if (!granted && !seen.has(member + " " + role)) console.log(member + " " + role);
      seen.add(member + " " + role);
    }
  ' "$@"
}

# Grants roles on one resource, only the missing ones: reads the resource's IAM policy once and
# adds each missing MEMBER ROLE pair with add-iam-policy-binding (itself a read-modify-write
# of the policy with its etag). A run after a complete one only reads. KIND says what RESOURCE
# is: project, topic, subscription, account (a service account's email), secret, service (a
# function's Cloud Run service), or repository (LOCATION/PROJECT/NAME in Artifact Registry).
grant() { # KIND RESOURCE MEMBER ROLE [MEMBER ROLE ...]
  local kind="$1" resource="$2" location repo_project name
  shift 2
  local -a group target=("$resource" --project="$project") extra=()
  case "$kind" in
    project)
      group=(projects)
      target=("$resource")
      # A project policy may hold conditional bindings; gcloud then asks which one is meant.
      extra=(--condition=None)
      ;;
    topic) group=(pubsub topics) ;;
    subscription) group=(pubsub subscriptions) ;;
    account)
      group=(iam service-accounts)
      # An account of another project is looked up in its own project.
      if [[ "$resource" =~ @([^.@]+)\.iam\.gserviceaccount\.com$ ]]; then
        target=("$resource" --project="${BASH_REMATCH[1]}")
      fi
      ;;
    secret) group=(secrets) ;;
    service)
      group=(run services)
      target+=(--region="$region")
      ;;
    repository)
      group=(artifacts repositories)
      IFS=/ read -r location repo_project name <<<"$resource"
      target=("$name" --location="$location" --project="$repo_project")
      ;;
    *) die "grant: unknown kind $kind" ;;
  esac
  local policy='{}' missing member role
  # A resource this run created has no bindings yet: nothing to read. (Were it made by another
  # deploy meanwhile, adding a binding it has already changes nothing.)
  if [[ " ${created[*]} " != *" $kind:$resource "* ]]; then
    show gcloud "${group[@]}" get-iam-policy "${target[@]}" --format=json
    if [[ "$dry_run" -eq 0 ]]; then
      policy="$(patient 'could not read the IAM policy' \
        "${group[@]}" get-iam-policy "${target[@]}" --format=json)"
    fi
  fi
  missing="$(missing_bindings "$@" <<<"$policy")"
  while read -r member role; do
    [[ -n "$member" ]] || continue
    bind "${group[@]}" add-iam-policy-binding "${target[@]}" --member="$member" \
      --role="$role" "${extra[@]}" --format=none
  done <<<"$missing"
}

# Runs each SPEC (a function and its arguments, as one string of words without spaces of their
# own) in the background with its own output, shows the outputs in order once all have ended,
# and stops the script if any failed. A dry run runs them one after another, so the commands
# print in order.
side_by_side() { # SPEC...
  local -a specs=("$@") words pids=() failed=()
  local i status logs
  logs="$(mktemp -d -p "$work_dir")"
  for i in "${!specs[@]}"; do
    read -ra words <<<"${specs[$i]}"
    if [[ "$dry_run" -eq 1 ]]; then
      "${words[@]}"
    else
      "${words[@]}" >"$logs/$i" 2>&1 3>&1 &
      pids+=("$!")
    fi
  done
  [[ "$dry_run" -eq 1 ]] && return 0
  for i in "${!specs[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    cat "$logs/$i"
    [[ "$status" -eq 0 ]] || failed+=("${specs[$i]}")
  done
  [[ "${#failed[@]}" -eq 0 ]] || die "failed (see above): ${failed[*]}"
}

# Scratch files (captured errors, the functions' deploy logs), removed on exit.
work_dir="$(mktemp -d)"
readonly work_dir
trap 'rm -rf "$work_dir"' EXIT

# --- 1. config -------------------------------------------------------------------------------
step "Validating $config_rel"
command -v node >/dev/null 2>&1 || die "node is required (Node.js 22)"
if [[ ! -f build/shared/cli/main.js ]]; then
  note "building the CLI (npm run build)"
  npm run build --silent >/dev/null
fi
validate_status=0
node bin/pushrun config validate "$config_rel" || validate_status=$?
case "$validate_status" in
  0) ;;
  1) die "$config_rel is not valid (problems above); nothing was deployed" ;;
  *) die "could not validate $config_rel (exit $validate_status); nothing was deployed" ;;
esac

# What the deploy needs from the validated config, one tab-separated fact a line:
#   notifications REF        the notifications topic: an id in the project, or projects/P/topics/T
#   batch-events ID          the Batch events topic, an id in the project
#   foreign-topic REF P      the Batch events topic lives in project P, not this one
#   job-account EMAIL        an identity jobs run as: pushrun-jobs, and each account a mapping's
#                            template names (allocationPolicy.serviceAccount.email)
#   repository L P R EMAILS  a repository the mappings name literally (location, project, name),
#                            with the job accounts of those mappings, comma-separated
#   project-wide M EMAIL WHY mapping M's glob spans repositories: read access project-wide
#   foreign FILE:LINE:COL M P  mapping M matches images of project P, not this one
#   upload PATH              a file the functions read: the config and each jobFile
facts="$(
  node -e '
    const path = require("path");
    const picomatch = require("picomatch");
    const config_ = require(path.resolve("build/shared/config"));
    const [file, project, defaultAccount] = process.argv.slice(1);
    const {config} = config_.readConfig(file);
    if (!config) process.exit(1);
    const out = (...cols) => console.log(cols.join("\t"));
    const topic = ref => {
      const m = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(ref);
      return m ? {project: m[1], id: m[2]} : {project, id: ref};
    };
    const n = topic(config.notifications.topic);
    out("notifications", n.project === project ? n.id : config.notifications.topic);
    const b = topic(config.notifications.batchEventsTopic);
    if (b.project === project) out("batch-events", b.id);
    else out("foreign-topic", config.notifications.batchEventsTopic, b.project);

    const literal = s => Boolean(s) && !picomatch.scan(s).isGlob;
    const accounts = new Set([defaultAccount]);
    const repositories = new Map();
    const uploads = new Set([file]);
    for (const m of config.mappings) {
      uploads.add(path.relative(process.cwd(), path.resolve(m.jobSource)));
      // Templates are proto3 JSON: a field may be spelt lowerCamel or as in the proto.
      const policy = m.job.allocationPolicy || m.job.allocation_policy || {};
      const account = (policy.serviceAccount || policy.service_account || {}).email;
      const jobAccount = account || defaultAccount;
      accounts.add(jobAccount);
      const parts = config_.literalImageParts(m.imageGlob);
      // Only Google registries announce pushes on a gcr topic (and need Google roles to read).
      const gcr = /(^|\.)gcr\.io$/.test(parts.host || "");
      if (parts.host && !parts.location && !gcr) continue;
      const segments = m.imageGlob.split("/");
      const imageProject = parts.project || (literal(segments[1]) ? segments[1] : undefined);
      const at = m.imagePosition;
      if (imageProject && imageProject !== project) {
        out("foreign", [at.file, at.line, at.col].join(":"), m.name, imageProject);
      } else if (parts.location && parts.repository) {
        const key = [parts.location, imageProject, parts.repository].join("\t");
        repositories.set(key, new Set([...(repositories.get(key) || []), jobAccount]));
      } else {
        const why = !parts.host
          ? "its host is a glob"
          : !parts.location
            ? parts.host + " names no Artifact Registry repository"
            : !imageProject
              ? "its project is a glob"
              : "its repository is a glob";
        out("project-wide", m.name, jobAccount,
          "match.image " + m.imageGlob + " spans repositories: " + why);
      }
    }
    for (const a of accounts) out("job-account", a);
    for (const [key, as] of repositories) out("repository", key, [...as].join(","));
    for (const f of uploads) out("upload", f);
  ' "$config_rel" "$project" "$JOBS_SA"
)" || die "could not read $config_rel"

notifications_topic=''
batch_events_topic=''
job_accounts=()
repositories=()
wide_grants=()
foreign=()
uploads=()
while IFS=$'\t' read -r kind a b c d; do
  case "$kind" in
    notifications) notifications_topic="$a" ;;
    batch-events) batch_events_topic="$a" ;;
    foreign-topic)
      die "notifications.batchEventsTopic $a is in project $b, not $project: onJobStateChange's
trigger can only listen to a topic of its own project (gcloud functions deploy --trigger-topic
takes a topic id in the function's project). Nothing was changed. Name a topic of $project
instead, e.g. batchEventsTopic: pushrun-batch-events" ;;
    job-account) job_accounts+=("$a") ;;
    repository) repositories+=("$a $b $c $d") ;;
    project-wide) wide_grants+=("$a $b $c") ;;
    foreign) foreign+=("  $a mapping \"$b\" matches images of project $c") ;;
    upload) uploads+=("$a") ;;
  esac
done <<<"$facts"
note "notifications topic: $notifications_topic; Batch events topic: $batch_events_topic"

# Artifact Registry announces a push on the gcr topic of the image's own project, and an
# Eventarc Pub/Sub trigger (what --trigger-topic makes) listens to a topic of its own project
# only ("The topic must be in the same project as the trigger",
# https://cloud.google.com/sdk/gcloud/reference/eventarc/triggers/create). So a mapping for
# another project's images could never start a job: stop before changing anything.
if [[ "${#foreign[@]}" -gt 0 ]]; then
  other_projects="$(printf '%s\n' "${foreign[@]}" | sed 's/.* //' | sort -u)"
  {
    echo "deploy.sh: these mappings match images of another project than $project:"
    printf '%s\n' "${foreign[@]}"
    echo "Artifact Registry announces a push on the topic gcr of the image's own project, and the"
    echo "Eventarc trigger of onImagePush can only listen to a topic of $project, so pushes there would"
    echo "never reach pushrun. Nothing was changed. Either deploy pushrun in that project as well, with"
    echo "those mappings moved to a config file of their own (and out of $config_rel):"
    while read -r other; do
      echo "  ./deploy.sh --project $other --region $region --config config/pushrun-$other.yaml"
    done <<<"$other_projects"
    echo "or push those images to a repository in $project and point their match.image at it:"
    echo "  gcloud artifacts repositories create REPOSITORY --project=$project --location=$region --repository-format=docker"
  } >&2
  exit 1
fi

if [[ "$dry_run" -eq 1 ]]; then
  step "Dry run: printing the gcloud commands for project $project, region $region; running none"
else
  command -v gcloud >/dev/null 2>&1 || die "gcloud is required (Google Cloud CLI)"
fi

# The functions read the config and its jobFiles at run time, from the upload: make sure
# .gcloudignore leaves none of them out.
PLACEHOLDER="$(printf '%s\n' "${uploads[@]}")"
uploaded="$(lookup meta list-files-for-upload .)" || die "could not list the files to upload"
for f in "${uploads[@]}"; do
  grep -qxF "$f" <<<"$uploaded" ||
    die "$f would not be uploaded with the functions (.gcloudignore leaves it out); nothing was deployed"
done

# --- 2. APIs ---------------------------------------------------------------------------------
step "Enabling APIs"
apis=("${APIS[@]}")
[[ -n "$webhook_secret" ]] && apis+=(secretmanager.googleapis.com)
gc services enable "${apis[@]}" --project="$project"

PLACEHOLDER=PROJECT_NUMBER
project_number="$(lookup projects describe "$project" --format='value(projectNumber)')"
[[ -n "$project_number" ]] || die "could not read the project number of $project"
readonly PUBSUB_AGENT="service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
# Service agents can be created lazily; make sure Pub/Sub's exists before granting it anything.
gc beta services identity create --service=pubsub.googleapis.com --project="$project" \
  --format=none

if [[ -n "$webhook_secret" ]]; then
  if exists secrets describe "$webhook_secret" --project="$project"; then
    note "webhook secret $webhook_secret: exists"
  elif [[ "$dry_run" -eq 0 ]]; then
    die "secret $webhook_secret not found; create it first:
  printf %s \"\$WEBHOOK_URL\" | gcloud secrets create $webhook_secret --project=$project --data-file=-"
  fi
fi

# --- 3. topics -------------------------------------------------------------------------------
# What this run creates (KIND:RESOURCE as grant takes them): their IAM policies are empty.
created=()
step "Topics"
create_topic() { # TOPIC
  create pubsub topics create "$1" --project="$project"
  note "topic $1: created"
}

PLACEHOLDER=''
existing_topics="$(lookup pubsub topics list --project="$project" --format='value(name)')" ||
  die "could not list the topics of $project"
specs=()
for topic in "$GCR_TOPIC" "$batch_events_topic" "$notifications_topic" "$RECONCILE_TOPIC" \
  "$DEAD_LETTER_TOPIC"; do
  if [[ "$topic" == projects/* ]]; then
    # A notifications topic of another project is not in this project's list.
    exists pubsub topics describe "$topic" && found=1 || found=0
  else
    grep -qxF "projects/$project/topics/$topic" <<<"$existing_topics" && found=1 || found=0
  fi
  if [[ "$found" -eq 1 ]]; then
    note "topic $topic: exists"
  else
    specs+=("create_topic $topic")
    created+=("topic:$topic")
  fi
done
side_by_side "${specs[@]}"
# Nothing keeps a message published to a topic without subscriptions: give dead letters a home.
if exists pubsub subscriptions describe "$DEAD_LETTER_TOPIC" --project="$project"; then
  note "subscription $DEAD_LETTER_TOPIC: exists"
else
  create pubsub subscriptions create "$DEAD_LETTER_TOPIC" --project="$project" \
    --topic="$DEAD_LETTER_TOPIC" --message-retention-duration=7d
  note "subscription $DEAD_LETTER_TOPIC: created"
fi

# --- 4. service accounts and roles -----------------------------------------------------------
step "Service accounts"
create_account() { # NAME
  local what
  case "$1" in
    pushrun-launcher) what='onImagePush' ;;
    pushrun-recorder) what='onJobStateChange and reconcileRuns' ;;
    pushrun-jobs) what='Batch job VMs' ;;
    pushrun-invoker) what='Eventarc trigger identity' ;;
  esac
  create iam service-accounts create "$1" --project="$project" --display-name="pushrun $what"
  note "service account $1: created"
}

PLACEHOLDER=''
existing_accounts="$(lookup iam service-accounts list --project="$project" \
  --format='value(email)')" || die "could not list the service accounts of $project"
specs=()
for name in pushrun-launcher pushrun-recorder pushrun-jobs pushrun-invoker; do
  if grep -qxF "$name@${project}.iam.gserviceaccount.com" <<<"$existing_accounts"; then
    note "service account $name: exists"
  else
    specs+=("create_account $name")
    created+=("account:$name@${project}.iam.gserviceaccount.com")
  fi
done
side_by_side "${specs[@]}"

step "Roles (least privilege)"
launcher="serviceAccount:$LAUNCHER_SA"
recorder="serviceAccount:$RECORDER_SA"
jobs="serviceAccount:$JOBS_SA"
pubsub_agent="serviceAccount:$PUBSUB_AGENT"
project_grants=(
  "$launcher" roles/batch.jobsEditor "$launcher" roles/datastore.user
  "$recorder" roles/batch.jobsViewer "$recorder" roles/datastore.user
  # What the Batch VMs' agent needs: report task state, write the jobs' logs.
  "$jobs" roles/batch.agentReporter "$jobs" roles/logging.logWriter
)
for wide in "${wide_grants[@]}"; do
  read -r mapping account why <<<"$wide"
  note "roles/artifactregistry.reader project-wide for mapping $mapping: $why"
  project_grants+=("$launcher" roles/artifactregistry.reader
    "serviceAccount:$account" roles/artifactregistry.reader)
done
specs=("grant project $project ${project_grants[*]}")

# The launcher reads the manifests, and the jobs pull the images, of the repositories the
# mappings name: read access on each of those repositories only.
for repository in "${repositories[@]}"; do
  read -r location repo_project repo accounts <<<"$repository"
  spec="grant repository $location/$repo_project/$repo $launcher roles/artifactregistry.reader"
  IFS=, read -ra repo_accounts <<<"$accounts"
  for account in "${repo_accounts[@]}"; do
    spec+=" serviceAccount:$account roles/artifactregistry.reader"
  done
  specs+=("$spec")
done

# The launcher may attach the job accounts to the jobs it creates, and no other account. Each
# job account publishes its jobs' JOB_STATE_CHANGED messages: Batch's docs say a job's own
# service account needs roles/pubsub.publisher on its notifications topic, and the Batch
# service agent needs it only for a topic in another project
# (https://cloud.google.com/batch/docs/enable-notifications), which step 1 refuses: so the
# agent gets nothing.
events_grants=()
for account in "${job_accounts[@]}"; do
  specs+=("grant account $account $launcher roles/iam.serviceAccountUser")
  events_grants+=("serviceAccount:$account" roles/pubsub.publisher)
  # The project-level roles of a job's VMs are granted to pushrun's own account only.
  [[ "$account" == "$JOBS_SA" ]] ||
    note "jobs run as $account (a template names it): like pushrun-jobs, it needs roles/batch.agentReporter and roles/logging.logWriter on the project, which this script leaves to you"
done
specs+=("grant topic $batch_events_topic ${events_grants[*]}")

# All three functions announce runs (onImagePush the skipped ones), so all read the webhook.
specs+=("grant topic $notifications_topic $launcher roles/pubsub.publisher $recorder roles/pubsub.publisher")
if [[ -n "$webhook_secret" ]]; then
  specs+=("grant secret $webhook_secret $launcher roles/secretmanager.secretAccessor $recorder roles/secretmanager.secretAccessor")
fi
# Pub/Sub signs the push requests to the functions as pushrun-invoker, and moves undeliverable
# messages to the dead-letter topic, as its service agent.
specs+=(
  "grant account $INVOKER_SA $pubsub_agent roles/iam.serviceAccountTokenCreator"
  "grant topic $DEAD_LETTER_TOPIC $pubsub_agent roles/pubsub.publisher"
)
# Each resource's policy is its own: the resources are granted side by side.
side_by_side "${specs[@]}"

# --- 5. Firestore ----------------------------------------------------------------------------
step "Firestore"
if exists firestore databases describe --database='(default)' --project="$project"; then
  note "database (default): exists"
else
  create firestore databases create --database='(default)' --location="$firestore_location" \
    --type=firestore-native --project="$project"
  note "database (default): created in $firestore_location"
fi

# Prints the RUNS_INDEXES entries missing from the index list (JSON) on stdin. An index counts
# when it is on the runs collection with collection scope and has the same fields in the same
# order; a last __name__ in the direction of the field before it is implicit and ignored, as
# Firestore adds it to every index.
missing_run_indexes() {
  node -e '
    const [collection, ...wanted] = process.argv.slice(1);
    const key = fields => {
      const f = fields.map(([path, order]) => [path, String(order || "").toUpperCase()]);
      const n = f.length;
      if (n > 1 && f[n - 1][0] === "__name__" && f[n - 1][1] === f[n - 2][1]) f.pop();
      return f.map(x => x.join(":")).join(" ");
    };
    const text = require("fs").readFileSync(0, "utf8").trim();
    const have = new Set(
      (text ? JSON.parse(text) : [])
        .filter(i => String(i.name || "").split("/")[5] === collection)
        .filter(i => (i.queryScope || "COLLECTION") === "COLLECTION")
        .map(i => key((i.fields || []).map(f => [f.fieldPath, f.order]))),
    );
    for (const w of wanted) {
      if (!have.has(key(w.split(" ").map(s => s.split(":"))))) console.log(w);
    }
  ' "$RUNS_COLLECTION" "${RUNS_INDEXES[@]}"
}

PLACEHOLDER='[]'
indexes_json="$(lookup firestore indexes composite list --database='(default)' \
  --project="$project" --format=json)"
missing_indexes="$(missing_run_indexes <<<"$indexes_json")"

create_index() { # FIELD:ORDER...
  local field field_flags=()
  for field in "$@"; do
    field_flags+=(--field-config="field-path=${field%%:*},order=${field#*:}")
  done
  create firestore indexes composite create --database='(default)' --project="$project" \
    --collection-group="$RUNS_COLLECTION" "${field_flags[@]}" --async
  note "index $RUNS_COLLECTION ($*): building"
}

specs=()
for spec in "${RUNS_INDEXES[@]}"; do
  if grep -qxF "$spec" <<<"$missing_indexes"; then
    specs+=("create_index $spec")
  else
    note "index $RUNS_COLLECTION ($spec): exists"
  fi
done
side_by_side "${specs[@]}"

# --- 6. functions ----------------------------------------------------------------------------
env_vars="GOOGLE_CLOUD_PROJECT=${project},PUSHRUN_CONFIG=${config_rel}"
secret_flags=()
if [[ -n "$webhook_secret" ]]; then
  secret_flags=(--set-secrets="PUSHRUN_WEBHOOK_URL=${webhook_secret}:latest")
fi

# Deploys one function, then lets pushrun-invoker invoke its Cloud Run service (what
# `gcloud functions add-invoker-policy-binding` does for gen2,
# https://cloud.google.com/functions/docs/securing/managing-access-iam) and dead-letters the
# subscription Eventarc made for its trigger.
deploy_function() { # NAME TOPIC RUNTIME_SA [EXTRA_ENV_VARS]
  local name="$1" topic="$2" runtime_sa="$3" extra_env="${4:-}"
  local deployed trigger service subscription trigger_location="$region"
  PLACEHOLDER="EVENTARC_TRIGGER_OF_$name RUN_SERVICE_OF_$name"
  deployed="$(lookup functions deploy "$name" --gen2 --project="$project" --region="$region" \
    --runtime="$FUNCTIONS_RUNTIME" --source=. --entry-point="$name" \
    --trigger-topic="$topic" --retry \
    --ingress-settings=internal-only --no-allow-unauthenticated \
    --service-account="$runtime_sa" --trigger-service-account="$INVOKER_SA" \
    --set-env-vars="${env_vars}${extra_env:+,$extra_env}" "${secret_flags[@]}" \
    --format='value(eventTrigger.trigger,serviceConfig.service)')"
  read -r trigger service <<<"$deployed"
  [[ -n "$trigger" && -n "$service" ]] || die "$name has no Eventarc trigger or Cloud Run service"
  if [[ "$trigger" =~ ^projects/[^/]+/locations/([^/]+)/triggers/ ]]; then
    trigger_location="${BASH_REMATCH[1]}"
  fi
  grant service "${service##*/}" "serviceAccount:$INVOKER_SA" roles/run.invoker

  PLACEHOLDER="EVENTARC_SUBSCRIPTION_OF_$name"
  subscription="$(lookup eventarc triggers describe "${trigger##*/}" --project="$project" \
    --location="$trigger_location" --format='value(transport.pubsub.subscription)')"
  [[ -n "$subscription" ]] || die "the trigger of $name has no Pub/Sub subscription"
  gc pubsub subscriptions update "$subscription" --project="$project" \
    --dead-letter-topic="$DEAD_LETTER_TOPIC" --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS"
  grant subscription "$subscription" "$pubsub_agent" roles/pubsub.subscriber
}

step "Functions (gen2, region $region)"
# A gen2 deploy takes minutes (Cloud Build, then Cloud Run): the three deploy side by side.
# PUSHRUN_JOB_SERVICE_ACCOUNT is the identity the launcher gives jobs whose template names none.
side_by_side \
  "deploy_function onImagePush $GCR_TOPIC $LAUNCHER_SA PUSHRUN_JOB_SERVICE_ACCOUNT=${JOBS_SA}" \
  "deploy_function onJobStateChange $batch_events_topic $RECORDER_SA" \
  "deploy_function reconcileRuns $RECONCILE_TOPIC $RECORDER_SA"

# The functions follow the newest live config version (DESIGN.md "Live config"): the file just
# deployed becomes one when it differs from the live version. A failure leaves the functions on
# the live version (or the bundled file) and says how to apply by hand.
step "Live config"
apply_live=(node bin/pushrun config apply "$config_rel" --yes --message deploy)
show "${apply_live[@]}"
if [[ "$dry_run" -eq 0 ]] && ! GOOGLE_CLOUD_PROJECT="$project" "${apply_live[@]}"; then
  note "warning: $config_rel was not applied as a live version; run: GOOGLE_CLOUD_PROJECT=$project npx pushrun config apply $config_rel --message deploy" >&2
fi

# --- 7. scheduler ----------------------------------------------------------------------------
step "Cloud Scheduler"
scheduler_flags=(--project="$project" --location="$region" --schedule="$RECONCILE_SCHEDULE"
  --topic="$RECONCILE_TOPIC" --message-body='{}' --time-zone=Etc/UTC)
if exists scheduler jobs describe "$SCHEDULER_JOB" --project="$project" --location="$region"; then
  gc scheduler jobs update pubsub "$SCHEDULER_JOB" "${scheduler_flags[@]}"
  note "job $SCHEDULER_JOB: updated"
else
  create scheduler jobs create pubsub "$SCHEDULER_JOB" "${scheduler_flags[@]}" \
    --description="pushrun: reconcile runs still open"
  note "job $SCHEDULER_JOB: created"
fi

if [[ "$dry_run" -eq 1 ]]; then
  step "Dry run complete: nothing was changed"
else
  step "Done: push an image to Artifact Registry in $project and the matching jobs start"
fi
