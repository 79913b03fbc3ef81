#!/usr/bin/env bash
# Sets up and deploys pushrun in one Google Cloud project with gcloud. Safe to run again: every
# resource is looked up first and created only when missing; functions are redeployed.
#
#   ./deploy.sh --project P --region R [--config FILE] [--webhook-secret NAME]
#               [--firestore-location L] [--dry-run]
#
# What it does, in order:
#   1. validates the config (`pushrun config validate`, building the CLI first if needed);
#   2. enables the APIs;
#   3. creates the topics: gcr (Artifact Registry publishes there), the Batch events topic, the
#      notifications topic, pushrun-reconcile (Cloud Scheduler ticks) and pushrun-dead-letter
#      with a pull subscription of the same name that keeps dead letters 7 days;
#   4. creates least-privilege service accounts and grants their roles:
#        pushrun-launcher  runs onImagePush: creates Batch jobs that run as pushrun-jobs
#        pushrun-recorder  runs onJobStateChange and reconcileRuns: reads jobs, writes runs
#        pushrun-jobs      the Batch job VMs: report to Batch, write logs, pull images
#        pushrun-invoker   the Eventarc trigger identity: may only invoke the three functions
#      Grants are project-level only where the resource cannot be narrowed (Batch, Firestore,
#      Logging, Artifact Registry); topics, the jobs service account and the webhook secret get
#      resource-level bindings. The Batch service agent may publish to the Batch events topic;
#      the Pub/Sub service agent may mint tokens for pushrun-invoker (needed by projects whose
#      Pub/Sub agent predates April 2021) and may dead-letter;
#   5. creates the (default) Firestore database in native mode when missing, then the composite
#      indexes the run store's queries need (real Firestore refuses a query without its index;
#      the emulator does not check): the existing ones are listed and only the missing ones are
#      created, asynchronously (they build in the background for a few minutes);
#   6. deploys the three gen2 functions (internal ingress, authenticated, retried), grants
#      pushrun-invoker run.invoker on each, and sets a dead-letter policy on the Pub/Sub
#      subscription Eventarc made for each trigger (Eventarc takes no dead-letter flag, so the
#      subscription it created is updated in place; this is repeated after every deploy);
#   7. creates or updates the Cloud Scheduler job pushrun-reconcile (every 10 minutes).
#
# Source upload: `--source=.` with .gcloudignore. The upload holds the TypeScript sources,
# tsconfig.json, the package files and config/; build/, node_modules/, test/ and bench/ stay
# home. Cloud Build installs the dependencies and runs `npm run gcp-build` (tsc), so the
# functions run exactly what was uploaded, never a stale local build/. The config file must
# therefore live inside this directory; its path is passed to the functions as PUSHRUN_CONFIG.
#
# --dry-run prints every gcloud command (`+ gcloud ...`) as if nothing existed yet and runs
# none of them; it still validates the config, which talks to nothing remote.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT_DIR

readonly FUNCTIONS_RUNTIME=nodejs20
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
# then by document id (__name__).
readonly RUNS_COLLECTION=pushrun-runs
readonly RUNS_INDEXES=(
  'mapping:ascending createdAt:descending'
  'image:ascending createdAt:descending'
  'state:ascending createdAt:descending'
  'open:ascending createdAt:descending'
  'open:ascending createdAt:ascending __name__:ascending'
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
                             onJobStateChange and reconcileRuns as PUSHRUN_WEBHOOK_URL
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

# Runs a gcloud lookup and prints its output; in a dry run prints the command and $PLACEHOLDER.
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

# Adds one IAM binding. A service account created seconds ago can be unknown to IAM for a
# while, so a "does not exist" answer is retried for up to about a minute.
bind() {
  show gcloud "$@"
  [[ "$dry_run" -eq 1 ]] && return 0
  local attempt err
  for attempt in 1 2 3 4 5 6; do
    if err="$(gcloud "$@" 2>&1 >/dev/null)"; then
      return 0
    fi
    grep -qiE 'does not exist|not found' <<<"$err" || break
    [[ "$attempt" -lt 6 ]] && sleep $((attempt * 4))
  done
  printf '%s\n' "$err" >&2
  die "failed: gcloud $*"
}

grant_project() { # MEMBER ROLE
  bind projects add-iam-policy-binding "$project" --member="$1" --role="$2" \
    --condition=None --format=none
}

grant_topic() { # TOPIC MEMBER ROLE
  bind pubsub topics add-iam-policy-binding "$1" --project="$project" --member="$2" \
    --role="$3" --format=none
}

ensure_topic() { # TOPIC
  if exists pubsub topics describe "$1" --project="$project"; then
    note "topic $1: exists"
  else
    create pubsub topics create "$1" --project="$project"
    note "topic $1: created"
  fi
}

ensure_service_account() { # NAME DISPLAY_NAME
  if exists iam service-accounts describe "$1@${project}.iam.gserviceaccount.com" \
    --project="$project"; then
    note "service account $1: exists"
  else
    create iam service-accounts create "$1" --project="$project" --display-name="$2"
    note "service account $1: created"
  fi
}

# --- 1. config -------------------------------------------------------------------------------
step "Validating $config_rel"
command -v node >/dev/null 2>&1 || die "node is required (Node.js 20)"
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

# Topic names come from the config's notifications section, with the documented defaults.
topics="$(
  node -e '
    const fs = require("fs");
    const doc = require("yaml").parse(fs.readFileSync(process.argv[1], "utf8")) || {};
    const n = doc.notifications || {};
    console.log(n.topic || "pushrun-notifications");
    console.log(n.batchEventsTopic || "pushrun-batch-events");
  ' "$config_rel"
)"
notifications_topic="$(sed -n 1p <<<"$topics")"
batch_events_topic="$(sed -n 2p <<<"$topics")"
note "notifications topic: $notifications_topic; Batch events topic: $batch_events_topic"

if [[ "$dry_run" -eq 1 ]]; then
  step "Dry run: printing the gcloud commands for project $project, region $region; running none"
else
  command -v gcloud >/dev/null 2>&1 || die "gcloud is required (Google Cloud CLI)"
fi

# --- 2. APIs ---------------------------------------------------------------------------------
step "Enabling APIs"
apis=("${APIS[@]}")
[[ -n "$webhook_secret" ]] && apis+=(secretmanager.googleapis.com)
gc services enable "${apis[@]}" --project="$project"

PLACEHOLDER=PROJECT_NUMBER
project_number="$(lookup projects describe "$project" --format='value(projectNumber)')"
[[ -n "$project_number" ]] || die "could not read the project number of $project"
readonly BATCH_AGENT="service-${project_number}@gcp-sa-cloudbatch.iam.gserviceaccount.com"
readonly PUBSUB_AGENT="service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
# Service agents can be created lazily; make sure both exist before granting them anything.
gc beta services identity create --service=batch.googleapis.com --project="$project" \
  --format=none
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
step "Topics"
for topic in "$GCR_TOPIC" "$batch_events_topic" "$notifications_topic" "$RECONCILE_TOPIC" \
  "$DEAD_LETTER_TOPIC"; do
  ensure_topic "$topic"
done
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
ensure_service_account pushrun-launcher "pushrun onImagePush"
ensure_service_account pushrun-recorder "pushrun onJobStateChange and reconcileRuns"
ensure_service_account pushrun-jobs "pushrun Batch job VMs"
ensure_service_account pushrun-invoker "pushrun Eventarc trigger identity"

step "Roles (least privilege)"
for role in roles/batch.jobsEditor roles/artifactregistry.reader roles/datastore.user \
  roles/logging.logWriter; do
  grant_project "serviceAccount:$LAUNCHER_SA" "$role"
done
# The launcher may attach pushrun-jobs to the jobs it creates, and no other service account.
bind iam service-accounts add-iam-policy-binding "$JOBS_SA" --project="$project" \
  --member="serviceAccount:$LAUNCHER_SA" --role=roles/iam.serviceAccountUser --format=none
grant_topic "$notifications_topic" "serviceAccount:$LAUNCHER_SA" roles/pubsub.publisher

for role in roles/batch.jobsViewer roles/datastore.user roles/logging.logWriter; do
  grant_project "serviceAccount:$RECORDER_SA" "$role"
done
grant_topic "$notifications_topic" "serviceAccount:$RECORDER_SA" roles/pubsub.publisher
if [[ -n "$webhook_secret" ]]; then
  bind secrets add-iam-policy-binding "$webhook_secret" --project="$project" \
    --member="serviceAccount:$RECORDER_SA" --role=roles/secretmanager.secretAccessor \
    --format=none
fi

for role in roles/batch.agentReporter roles/logging.logWriter roles/artifactregistry.reader; do
  grant_project "serviceAccount:$JOBS_SA" "$role"
done

# Batch publishes JOB_STATE_CHANGED through its service agent.
grant_topic "$batch_events_topic" "serviceAccount:$BATCH_AGENT" roles/pubsub.publisher
# Pub/Sub signs the push requests to the functions as pushrun-invoker.
bind iam service-accounts add-iam-policy-binding "$INVOKER_SA" --project="$project" \
  --member="serviceAccount:$PUBSUB_AGENT" --role=roles/iam.serviceAccountTokenCreator \
  --format=none
# Pub/Sub moves undeliverable messages to the dead-letter topic as its service agent.
grant_topic "$DEAD_LETTER_TOPIC" "serviceAccount:$PUBSUB_AGENT" roles/pubsub.publisher

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
for spec in "${RUNS_INDEXES[@]}"; do
  if ! grep -qxF "$spec" <<<"$missing_indexes"; then
    note "index $RUNS_COLLECTION ($spec): exists"
    continue
  fi
  field_flags=()
  read -ra fields <<<"$spec"
  for field in "${fields[@]}"; do
    field_flags+=(--field-config="field-path=${field%%:*},order=${field#*:}")
  done
  create firestore indexes composite create --database='(default)' --project="$project" \
    --collection-group="$RUNS_COLLECTION" "${field_flags[@]}" --async
  note "index $RUNS_COLLECTION ($spec): building"
done

# --- 6. functions ----------------------------------------------------------------------------
env_vars="GOOGLE_CLOUD_PROJECT=${project},PUSHRUN_CONFIG=${config_rel}"

deploy_function() { # NAME TOPIC RUNTIME_SA [EXTRA_FLAGS...]
  local name="$1" topic="$2" runtime_sa="$3"
  shift 3
  note "deploying $name (trigger topic $topic)"
  gc functions deploy "$name" --gen2 --project="$project" --region="$region" \
    --runtime="$FUNCTIONS_RUNTIME" --source=. --entry-point="$name" \
    --trigger-topic="$topic" --retry \
    --ingress-settings=internal-only --no-allow-unauthenticated \
    --service-account="$runtime_sa" --trigger-service-account="$INVOKER_SA" "$@"
  bind functions add-invoker-policy-binding "$name" --project="$project" --region="$region" \
    --member="serviceAccount:$INVOKER_SA" --format=none

  local trigger subscription
  PLACEHOLDER="EVENTARC_TRIGGER_OF_$name"
  trigger="$(lookup functions describe "$name" --gen2 --project="$project" --region="$region" \
    --format='value(eventTrigger.trigger)')"
  [[ -n "$trigger" ]] || die "$name has no Eventarc trigger"
  PLACEHOLDER="EVENTARC_SUBSCRIPTION_OF_$name"
  subscription="$(lookup eventarc triggers describe "$trigger" \
    --format='value(transport.pubsub.subscription)')"
  [[ -n "$subscription" ]] || die "the trigger of $name has no Pub/Sub subscription"
  gc pubsub subscriptions update "$subscription" --project="$project" \
    --dead-letter-topic="$DEAD_LETTER_TOPIC" --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS"
  bind pubsub subscriptions add-iam-policy-binding "$subscription" --project="$project" \
    --member="serviceAccount:$PUBSUB_AGENT" --role=roles/pubsub.subscriber --format=none
}

step "Functions (gen2, region $region)"
# PUSHRUN_JOB_SERVICE_ACCOUNT is the identity the launcher gives jobs whose template names none.
deploy_function onImagePush "$GCR_TOPIC" "$LAUNCHER_SA" \
  --set-env-vars="${env_vars},PUSHRUN_JOB_SERVICE_ACCOUNT=${JOBS_SA}"
secret_flags=()
if [[ -n "$webhook_secret" ]]; then
  secret_flags=(--set-secrets="PUSHRUN_WEBHOOK_URL=${webhook_secret}:latest")
fi
deploy_function onJobStateChange "$batch_events_topic" "$RECORDER_SA" \
  --set-env-vars="$env_vars" "${secret_flags[@]}"
deploy_function reconcileRuns "$RECONCILE_TOPIC" "$RECORDER_SA" \
  --set-env-vars="$env_vars" "${secret_flags[@]}"

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
