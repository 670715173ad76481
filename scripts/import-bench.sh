#!/usr/bin/env bash
# Speed of `entitle import` on a big export set: F per-flow Get-AdminFlow JSON records (with connection references
# and definitions), U Graph users (assignedLicenses and assignedPlans), E environments (Export-Csv), the tenant's
# subscribedSkus and one currencyAllocations record per environment. Runs the import N times and prints the
# median, min and max wall time in seconds. The goal (issue 16) is < 5 s on the release binary.
#
#   scripts/import-bench.sh target/release/entitle [FLOWS=100000] [USERS=20000] [ENVS=1000] [N=5]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 flows=${2:-100000} users=${3:-20000} envs=${4:-1000} n=${5:-5}
work=${IMPORT_BENCH_DIR:-$(mktemp -d)}
[ -n "${IMPORT_BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
python3 - "$work" "$flows" "$users" "$envs" <<'PY'
import csv, json, random, sys, uuid
work, flows, users, envs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(16)
def gid():
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))
tenant = gid()
env_ids = [f"Default-{tenant}"] + [gid() for _ in range(envs - 1)]
user_ids = [gid() for _ in range(users)]
E3, PREMIUM, PAPU = "6fd2c87f-b296-42f0-b197-1e91e994b900", "eda1941c-3c4f-4995-b5eb-e85a42175ab9", "b30411f5-fea1-4a59-9ad9-3db7c7ead579"
PLANS = {E3: ["c68f8d98-5534-41c8-bf36-22fa496fa792", "76846ad7-7776-4c40-a281-a386362dd1b9"],
         PREMIUM: ["375cd0ad-c407-49fd-866a-0bff4f8a9a4d"], PAPU: ["ea2cf03b-ac60-46ae-9c1d-eeaeb63cec86"]}
with open(f"{work}/environments.csv", "w", newline="") as f:
    w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow(["EnvironmentName", "DisplayName", "IsDefault", "Location", "EnvironmentType",
                "CommonDataServiceDatabaseProvisioningState"])
    for i, e in enumerate(env_ids):
        w.writerow([e, f"Environment {i}", str(i == 0), "europe", "Default" if i == 0 else rnd.choice(["Production", "Sandbox"]),
                    rnd.choice(["Succeeded", ""])])
us = []
for i, u in enumerate(user_ids):
    skus = [E3] + ([PREMIUM] if i % 5 == 0 else []) + ([PAPU] if i % 11 == 0 else [])
    us.append({"id": u, "userPrincipalName": f"user{i}@contoso.com", "displayName": f"User {i}", "accountEnabled": i % 50 != 0,
               "userType": "Guest" if i % 40 == 0 else "Member", "usageLocation": "NL",
               "assignedLicenses": [{"skuId": s, "disabledPlans": []} for s in skus],
               "assignedPlans": [{"assignedDateTime": "2024-01-01T00:00:00Z", "capabilityStatus": "Enabled", "service": "ProcessSimple",
                                  "servicePlanId": p} for s in skus for p in PLANS[s]]})
json.dump({"value": us}, open(f"{work}/users.json", "w"))
json.dump({"value": [{"skuId": s, "skuPartNumber": p, "id": f"{tenant}_{s}", "capabilityStatus": "Enabled", "consumedUnits": 0,
                      "prepaidUnits": {"enabled": users, "warning": 0, "suspended": 0, "lockedOut": 0}, "servicePlans": []}
                     for s, p in [(E3, "ENTERPRISEPACK"), (PREMIUM, "POWERAUTOMATE_ATTENDED_RPA"), (PAPU, "POWERAPPS_PER_USER")]]},
          open(f"{work}/skus.json", "w"))
json.dump({"value": [{"environmentId": e, "currencyAllocations": [{"currencyType": "PowerAutomatePerProcess", "allocated": 1}]}
                     for e in env_ids[1:]]}, open(f"{work}/allocations.json", "w"))
CONNS = ["shared_sharepointonline", "shared_office365", "shared_teams", "shared_sql", "shared_approvals", "shared_salesforce",
         "shared_excelonlinebusiness", "shared_commondataserviceforapps"]
with open(f"{work}/flows.json", "w") as f:
    f.write("[")
    for i in range(flows):
        fid, env, owner = gid(), rnd.choice(env_ids), rnd.choice(user_ids)
        conns = rnd.sample(CONNS, rnd.randint(1, 3))
        trig = rnd.choice([{"Recurrence": {"type": "Recurrence"}}, {"manual": {"type": "Request", "kind": "Button"}},
                           {"When_created": {"type": "OpenApiConnection", "inputs": {"host": {"apiId": f"/providers/Microsoft.PowerApps/apis/{conns[0]}"}}}}])
        rec = {"name": fid, "id": f"/providers/Microsoft.ProcessSimple/environments/{env}/flows/{fid}",
               "type": "Microsoft.ProcessSimple/environments/flows",
               "properties": {"displayName": f"Flow {i}", "state": rnd.choice(["Started"] * 8 + ["Stopped", "Suspended"]),
                              "createdTime": "2024-03-05T09:12:44.1234567Z", "flowSuspensionReason": "None",
                              "environment": {"name": env}, "creator": {"tenantId": tenant, "objectId": owner},
                              "definition": {"triggers": trig, "actions": {
                                  f"a{k}": {"type": "OpenApiConnection", "inputs": {"host": {"apiId": f"/providers/Microsoft.PowerApps/apis/{c}"}}}
                                  for k, c in enumerate(conns)}},
                              "connectionReferences": {c: {"id": f"/providers/Microsoft.PowerApps/apis/{c}", "source": "Embedded",
                                                           "tier": "NotSpecified"} for c in conns}}}
        f.write(("," if i else "") + json.dumps(rec))
    f.write("]")
PY
ls -l "$work" >&2
times=()
for _ in $(seq "$n"); do
  start=$(date +%s.%N)
  "$bin" import --flows "$work/flows.json" --users "$work/users.json" --environments "$work/environments.csv" \
    --skus "$work/skus.json" --allocations "$work/allocations.json" --at 2026-12-01 -o "$work/tenant.toml" 2>"$work/summary.txt"
  end=$(date +%s.%N)
  times+=("$(echo "$end - $start" | bc)")
done
head -3 "$work/summary.txt" >&2
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "import: median %.2f s, min %.2f s, max %.2f s over %d runs\n", a[int((NR+1)/2)], a[1], a[NR], NR}'
