#!/usr/bin/env python3
"""Validates deploy/k8s without a cluster (run by .ci/run).

1. Renders every overlay with `kubectl kustomize`.
2. Checks each resource against a schema, strictly (an unknown field is an error, as a typo in
   a manifest would otherwise be pruned silently by the API server):
   - the operators' resources (RabbitmqCluster, CloudNativePG Cluster, KEDA ScaledObject and
     TriggerAuthentication) against the openAPIV3Schema of their CRDs (deploy/k8s/crds/,
     upstream copies, see SOURCES.md);
   - the core kinds' pod templates against the PodTemplateSpec (and Services against the
     ServiceSpec) that the RabbitMQ operator's CRD embeds (its `override` field carries the
     upstream Kubernetes schemas), and the rest of the core kinds against the small schemas
     below (only the fields these manifests may use).
3. Checks the deployment's invariants (max executors <= shards, odd RabbitMQ replicas, probes,
   grace periods, PDBs, the ha overlay's redundancy).

`validate.py --self-test` breaks rendered manifests in known ways and fails unless each break
is caught: the validator itself is tested.
"""

import copy
import os
import subprocess
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CRDS = os.path.join(HERE, "crds")
OVERLAYS = ["dev", "ha"]
# The longest turn: 10 http_request calls per turn (EngineLimits) of at most 30 s each
# (MAX_HTTP_TIMEOUT_MS); an executor's grace period must let one finish.
LONGEST_TURN_SECONDS = 10 * 30


def render(overlay):
    out = subprocess.run(
        ["kubectl", "kustomize", os.path.join(HERE, "overlays", overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def strict(schema):
    """OpenAPI v3 (Kubernetes flavour) to JSON Schema, with unknown fields refused."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    if schema.get("nullable"):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
    out.pop("nullable", None)
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schema(path):
    with open(os.path.join(CRDS, path)) as f:
        crd = yaml.safe_load(f)
    schemas = {}
    for version in crd["spec"]["versions"]:
        if version.get("served"):
            api = f'{crd["spec"]["group"]}/{version["name"]}'
            schemas[(api, crd["spec"]["names"]["kind"])] = strict(
                version["schema"]["openAPIV3Schema"]
            )
    return schemas


def load_schemas():
    schemas = {}
    for path in [
        "rabbitmq-cluster-operator/rabbitmq.com_rabbitmqclusters.yaml",
        "cloudnative-pg/postgresql.cnpg.io_clusters.yaml",
        "keda/keda.sh_scaledobjects.yaml",
        "keda/keda.sh_triggerauthentications.yaml",
    ]:
        schemas.update(crd_schema(path))
    override = schemas[("rabbitmq.com/v1beta1", "RabbitmqCluster")]["properties"]["spec"][
        "properties"
    ]["override"]["properties"]
    pod_template = override["statefulSet"]["properties"]["spec"]["properties"]["template"]
    service_spec = override["service"]["properties"]["spec"]
    pod_template = copy.deepcopy(pod_template)
    pod_template["required"] = ["metadata", "spec"]
    pod_template["properties"]["spec"].setdefault("required", []).append("containers")

    def core(api, kind, spec, metadata_required=("name",)):
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["apiVersion", "kind", "metadata"] + (["spec"] if spec else []),
            "properties": {
                "apiVersion": {"const": api},
                "kind": {"const": kind},
                "metadata": {
                    "type": "object",
                    "required": list(metadata_required),
                    "properties": {
                        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                        "namespace": {"type": "string"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "annotations": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    },
                    "additionalProperties": False,
                },
                **({"spec": spec} if spec else {}),
            },
        }

    selector = {
        "type": "object",
        "required": ["matchLabels"],
        "properties": {
            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}
        },
        "additionalProperties": False,
    }
    deployment_spec = {
        "type": "object",
        "required": ["selector", "template"],
        "additionalProperties": False,
        "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "selector": selector,
            "strategy": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["RollingUpdate", "Recreate"]},
                    "rollingUpdate": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "maxUnavailable": {"type": ["integer", "string"]},
                            "maxSurge": {"type": ["integer", "string"]},
                        },
                    },
                },
            },
            "template": pod_template,
        },
    }
    job_spec = {
        "type": "object",
        "required": ["template"],
        "additionalProperties": False,
        "properties": {
            "backoffLimit": {"type": "integer", "minimum": 0},
            "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
            "template": pod_template,
        },
    }
    pdb_spec = {
        "type": "object",
        "required": ["selector"],
        "additionalProperties": False,
        "oneOf": [{"required": ["minAvailable"]}, {"required": ["maxUnavailable"]}],
        "properties": {
            "minAvailable": {"type": ["integer", "string"]},
            "maxUnavailable": {"type": ["integer", "string"]},
            "selector": selector,
        },
    }
    schemas[("apps/v1", "Deployment")] = core("apps/v1", "Deployment", deployment_spec)
    schemas[("batch/v1", "Job")] = core("batch/v1", "Job", job_spec)
    schemas[("v1", "Service")] = core("v1", "Service", service_spec)
    schemas[("policy/v1", "PodDisruptionBudget")] = core(
        "policy/v1", "PodDisruptionBudget", pdb_spec
    )
    schemas[("v1", "Namespace")] = core("v1", "Namespace", None)
    configmap = core("v1", "ConfigMap", None)
    configmap["properties"]["data"] = {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    schemas[("v1", "ConfigMap")] = configmap
    return schemas


def schema_errors(docs, schemas):
    errors = []
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        name = f'{key[1]}/{doc.get("metadata", {}).get("name")}'
        schema = schemas.get(key)
        if schema is None:
            errors.append(f"{name}: no schema for {key}")
            continue
        validator = jsonschema.Draft7Validator(schema)
        for error in validator.iter_errors(doc):
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{name}: {path}: {error.message[:200]}")
    return errors


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def invariant_errors(docs, overlay):
    errors = []
    config = {}
    for cm in by_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"] == "botplatform-config":
            config = cm.get("data", {})
    shards = int(config.get("AMQP_INBOUND_SHARDS", "0"))
    if shards < 1:
        errors.append("botplatform-config: AMQP_INBOUND_SHARDS missing")
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in by_kind(docs, "ScaledObject")}
    executor = scaled.get("flow-executor")
    if executor is None:
        errors.append("no ScaledObject for flow-executor")
    else:
        spec = executor["spec"]
        if spec.get("maxReplicaCount", 100) > shards:
            errors.append(
                f"ScaledObject flow-executor: maxReplicaCount {spec.get('maxReplicaCount')} "
                f"> AMQP_INBOUND_SHARDS {shards} (executors beyond the shards hold nothing)"
            )
        if spec.get("minReplicaCount", 0) < 1:
            errors.append("ScaledObject flow-executor: minReplicaCount must be >= 1")
    for rabbit in by_kind(docs, "RabbitmqCluster"):
        replicas = rabbit["spec"].get("replicas", 1)
        if replicas % 2 == 0:
            errors.append(f"RabbitmqCluster: {replicas} replicas (quorum queues need an odd count)")
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for deployment in by_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
            errors.append(f"Deployment/{name}: selector does not match the pod labels")
        for container in pod["containers"]:
            live = container.get("livenessProbe", {}).get("httpGet", {}).get("path")
            ready = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
            if live != "/health":
                errors.append(f"Deployment/{name}: liveness must be /health (no dependency)")
            if ready != "/ready":
                errors.append(f"Deployment/{name}: readiness must be /ready (broker, database)")
            resources = container.get("resources", {})
            if "requests" not in resources or "memory" not in resources.get("limits", {}):
                errors.append(f"Deployment/{name}: resources need requests and a memory limit")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if name == "flow-executor" and grace <= LONGEST_TURN_SECONDS:
            errors.append(
                f"Deployment/flow-executor: terminationGracePeriodSeconds {grace} "
                f"<= the longest turn ({LONGEST_TURN_SECONDS} s)"
            )
        if not any(
            all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
            for p in pdbs
        ):
            errors.append(f"Deployment/{name}: no PodDisruptionBudget")
        if overlay == "ha":
            replicas = spec.get("replicas", 1)
            if name in scaled:
                replicas = max(replicas, scaled[name]["spec"].get("minReplicaCount", 1))
            if replicas < 2:
                errors.append(f"Deployment/{name}: ha needs at least 2 replicas")
    for service in by_kind(docs, "Service"):
        selector = service["spec"].get("selector", {})
        if not any(
            all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())
            for d in by_kind(docs, "Deployment")
        ):
            errors.append(f"Service/{service['metadata']['name']}: selects no Deployment")
    if not by_kind(docs, "Job"):
        errors.append("no migration Job")
    errors += alert_errors(docs)
    if overlay == "ha":
        for rabbit in by_kind(docs, "RabbitmqCluster"):
            if rabbit["spec"].get("replicas", 1) < 3:
                errors.append("RabbitmqCluster: ha needs 3 nodes")
        for db in by_kind(docs, "Cluster"):
            sync = db["spec"].get("postgresql", {}).get("synchronous", {})
            if db["spec"].get("instances", 1) < 2 or sync.get("number", 0) < 1:
                errors.append("Cluster botplatform-db: ha needs a synchronous standby")
        for pdb in pdbs:
            if "minAvailable" not in pdb["spec"]:
                errors.append(f"PodDisruptionBudget/{pdb['metadata']['name']}: ha uses minAvailable")
    return errors


def alert_errors(docs):
    """Every alert rule parses, has an expression, and is explained in docs/operations.md."""
    errors = []
    rules = [
        cm for cm in by_kind(docs, "ConfigMap")
        if cm["metadata"]["name"].startswith("botplatform-prometheus-rules")
    ]
    if not rules:
        return ["no botplatform-prometheus-rules ConfigMap"]
    with open(os.path.join(HERE, "..", "..", "docs", "operations.md")) as f:
        manual = f.read()
    for text in rules[0].get("data", {}).values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert")
                if not name or not rule.get("expr"):
                    errors.append(f"alert rule without a name or expression: {rule}")
                elif f"`{name}`" not in manual:
                    errors.append(f"alert {name} is not explained in docs/operations.md")
                elif "executor_shards_held" in rule["expr"] and (
                    "executor_inbound_shards" not in rule["expr"]
                ):
                    # The shard count is a deployment setting: a number in the rule goes stale
                    # the day AMQP_INBOUND_SHARDS changes.
                    errors.append(
                        f"alert {name} compares executor_shards_held with a fixed number, "
                        "not executor_inbound_shards"
                    )
    return errors


def check(docs, overlay, schemas):
    return schema_errors(docs, schemas) + invariant_errors(docs, overlay)


def find(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def self_test(schemas):
    """Each break must be caught; the unbroken manifests must pass."""
    ha = render("ha")
    breaks = {
        "more executors than shards": lambda d: find(d, "ScaledObject", "flow-executor")[
            "spec"
        ].update(maxReplicaCount=9),
        "even RabbitMQ replicas": lambda d: find(d, "RabbitmqCluster", "botplatform-rabbitmq")[
            "spec"
        ].update(replicas=4),
        "liveness touching the database": lambda d: find(d, "Deployment", "sender")["spec"][
            "template"
        ]["spec"]["containers"][0]["livenessProbe"]["httpGet"].update(path="/ready"),
        "short executor grace period": lambda d: find(d, "Deployment", "flow-executor")["spec"][
            "template"
        ]["spec"].update(terminationGracePeriodSeconds=60),
        "a typo in a container": lambda d: find(d, "Deployment", "admin")["spec"]["template"][
            "spec"
        ]["containers"][0].update(readinesProbe={}),
        "a wrong type in a pod": lambda d: find(d, "Deployment", "admin")["spec"]["template"][
            "spec"
        ].update(terminationGracePeriodSeconds="forty"),
        "an unknown CRD field": lambda d: find(d, "Cluster", "botplatform-db")["spec"].update(
            instancez=3
        ),
        "a wrong KEDA field type": lambda d: find(d, "ScaledObject", "flow-executor")[
            "spec"
        ].update(pollingInterval="often"),
        "no synchronous standby": lambda d: find(d, "Cluster", "botplatform-db")["spec"].pop(
            "postgresql"
        ),
        "an undocumented alert": lambda d: next(
            cm for cm in d if cm["metadata"]["name"].startswith("botplatform-prometheus-rules")
        )["data"].update({"extra.yml": "groups: [{name: x, rules: [{alert: Undocumented, expr: up}]}]"}),
        "a hard-coded shard count in an alert": lambda d: next(
            cm for cm in d if cm["metadata"]["name"].startswith("botplatform-prometheus-rules")
        )["data"].update({"extra.yml": "groups: [{name: x, rules: [{alert: BotplatformShardsUnheld, "
                          "expr: 'sum(executor_shards_held) < 8'}]}]"}),
    }
    failures = []
    if check(ha, "ha", schemas):
        failures.append("the unbroken ha overlay does not pass")
    for what, breaking in breaks.items():
        docs = copy.deepcopy(ha)
        breaking(docs)
        errors = check(docs, "ha", schemas)
        print(f"  {what}: {'caught: ' + errors[0] if errors else 'NOT CAUGHT'}")
        if not errors:
            failures.append(what)
    return failures


def main():
    schemas = load_schemas()
    if "--self-test" in sys.argv:
        failures = self_test(schemas)
        if failures:
            print("self-test failed: " + ", ".join(failures))
            return 1
        print("self-test passed")
        return 0
    failed = False
    for overlay in OVERLAYS:
        docs = render(overlay)
        errors = check(docs, overlay, schemas)
        kinds = sorted({d["kind"] for d in docs})
        print(f"{overlay}: {len(docs)} resources ({', '.join(kinds)}): "
              f"{'ok' if not errors else f'{len(errors)} errors'}")
        for error in errors:
            print(f"  {error}")
        failed |= bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
