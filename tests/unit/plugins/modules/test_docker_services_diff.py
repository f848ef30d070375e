"""What a change of one service shows (issue 19): the parameters that differ, by name, never a
secret's value, and who is restarted because of it (docker_services' diff and ContainerSpec)."""

import json

from ansible_collections.ananta.platform.plugins.module_utils._docker.spec import CONFIG_LABEL, ContainerSpec, service_diff

SECRET = "s3cret-pw"
SERVICE = {"name": "supabase-db", "plane": "app_plane", "level": 3, "image": "lab/postgres:15",
           "command": ["lab-postgres"], "env": {"POSTGRES_PASSWORD": SECRET, "POSTGRES_DB": "postgres"},
           "ports": ["27432:5432"], "volumes": ["db-data:/var/lib/postgresql/data"], "networks": ["app-plane"],
           "restart_policy": "unless-stopped", "healthcheck": {"test": ["CMD", "pg_isready"]}}


def container_of(spec):
    """An engine's inspect of the container ``spec`` made."""
    return {"Config": {"Labels": dict(spec.labels), "Env": ["%s=%s" % kv for kv in spec.env.items()] + ["PATH=/bin"]}}


def changed(before, after, image_after="sha256:1111"):
    old = ContainerSpec(before, "ananta", "sha256:1111")
    new = ContainerSpec(after, "ananta", image_after)
    return {c["parameter"]: (c["before"], c["after"]) for c in new.changes(container_of(old), lambda v: v == SECRET)}


def test_nothing_differs_for_the_same_service():
    assert changed(SERVICE, dict(SERVICE)) == {}


def test_each_changed_parameter_is_named_with_before_and_after():
    after = json.loads(json.dumps(SERVICE))
    after["env"]["POSTGRES_DB"] = "platform"
    after["env"]["PGTUNE"] = "on"
    after["ports"] = ["27433:5432"]
    after["resources"] = {"memory": "1g"}
    found = changed(SERVICE, after, image_after="sha256:2222")
    assert found["env.POSTGRES_DB"] == ("postgres", "platform")
    assert found["env.PGTUNE"] == (None, "on")
    assert found["ports"] == (["0.0.0.0:27432->5432/tcp"], ["0.0.0.0:27433->5432/tcp"])
    assert found["resources"] == ({}, {"memory": "1g"})
    assert found["image"] == ("lab/postgres:15 (sha256:1111)", "lab/postgres:15 (sha256:2222)")
    assert set(found) == {"env.POSTGRES_DB", "env.PGTUNE", "ports", "resources", "image"}


def test_a_secret_s_value_is_never_shown():
    after = json.loads(json.dumps(SERVICE))
    after["env"]["POSTGRES_PASSWORD"] = "rotated-pw"
    found = changed(SERVICE, after)
    assert found == {"env.POSTGRES_PASSWORD": ("(secret)", "(secret)")}
    spec = ContainerSpec(SERVICE, "ananta", "sha256:1111")
    assert SECRET not in spec.labels[CONFIG_LABEL]  # only a digest of each value is kept


def test_a_container_of_an_earlier_version_says_so():
    spec = ContainerSpec(SERVICE, "ananta", "sha256:1111")
    found = spec.changes({"Config": {"Labels": {}, "Env": []}})
    assert [c["parameter"] for c in found] == ["configuration"]


def test_a_limit_only_when_set_keeps_the_hash_of_a_container_without_one():
    plain = ContainerSpec(SERVICE, "ananta", "sha256:1111")
    limited = ContainerSpec(dict(SERVICE, resources={"memory": "512m"}), "ananta", "sha256:1111")
    assert plain.config_hash != limited.config_hash
    assert plain.config_hash == ContainerSpec(dict(SERVICE, resources={}), "ananta", "sha256:1111").config_hash


def test_the_diff_names_the_changes_and_the_restarted_dependants():
    services = [
        {"name": "supabase-db", "container": "app-plane-supabase-db", "plane": "app_plane", "level": 3,
         "action": "recreate", "changes": [{"parameter": "env.POSTGRES_DB", "before": "postgres", "after": "platform"}],
         "restarts": ["supabase-api"]},
        {"name": "supabase-api", "container": "app-plane-supabase-api", "plane": "app_plane", "level": 3,
         "action": "restart", "restarted_by": ["supabase-db"], "changes": [], "restarts": []},
        {"name": "cns-service", "container": "app-plane-cns-service", "plane": "app_plane", "level": 4,
         "action": "unchanged", "changes": [], "restarts": []},
    ]
    diff = service_diff(services)
    assert [d["before_header"].split(" ")[0] for d in diff] == ["supabase-db", "supabase-api"]
    assert diff[0]["before"] == "env.POSTGRES_DB: postgres\n"
    assert diff[0]["after"] == "env.POSTGRES_DB: platform\nrestarts its dependants: supabase-api\n"
    assert "recreate" in diff[0]["before_header"]
    assert diff[1]["after"] == "restarted: its dependency supabase-db is renewed (restart_with)\n"
