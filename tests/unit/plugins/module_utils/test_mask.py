"""What the support archive masks (issue 29): known secret values anywhere, every URL's password,
every secret-named environment variable; and what it keeps."""

import json

from ansible_collections.ananta.platform.plugins.module_utils._mask import MASK, mask_data, mask_text

INSPECT = {
    "Name": "/arc-saas-keycloak", "RestartCount": 2, "State": {"Status": "running", "ExitCode": 0},
    "Config": {"Image": "lab:1", "Env": ["POSTGRES_PASSWORD=pw-Zq81x", "PATH=/usr/bin", "STANDIN_NAME=keycloak",
                                         "API_KEY=k-77", "DB_URL=postgres://postgres:pw-Zq81x@db:5432/x",
                                         "AMQP=amqp://ananta:rb-Qx9@mq:5672/", "EMPTY_TOKEN="],
               "Healthcheck": {"Test": ["CMD-SHELL", "PGPASSWORD=pw-Zq81x pg_isready -U postgres"]},
               "Labels": {"ananta.platform.project": "lab"}},
}


def test_the_inspect_output_keeps_its_names_and_loses_its_secrets():
    masked = mask_data(INSPECT, {"pw-Zq81x"})
    text = json.dumps(masked)
    for secret in ("pw-Zq81x", "rb-Qx9", "k-77"):
        assert secret not in text, secret
    env = masked["Config"]["Env"]
    assert "POSTGRES_PASSWORD=%s" % MASK in env and "API_KEY=%s" % MASK in env
    assert "DB_URL=postgres://postgres:%s@db:5432/x" % MASK in env and "AMQP=amqp://ananta:%s@mq:5672/" % MASK in env
    assert "PATH=/usr/bin" in env and "STANDIN_NAME=keycloak" in env and "EMPTY_TOKEN=" in env
    assert masked["Name"] == "/arc-saas-keycloak" and masked["RestartCount"] == 2 and masked["State"] == INSPECT["State"]
    assert masked["Config"]["Labels"] == INSPECT["Config"]["Labels"]


def test_a_pods_env_and_its_references_to_secrets():
    pod = {"spec": {"containers": [{"name": "web", "env": [
        {"name": "DB_PASSWORD", "value": "plain-pw-1"}, {"name": "MODE", "value": "fast"},
        {"name": "REF", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "web.DB_PASSWORD"}}}]}],
        "volumes": [{"name": "s", "secret": {"secretName": "db-credentials"}}]}}
    masked = mask_data(pod)
    env = masked["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "DB_PASSWORD", "value": MASK} and env[1] == {"name": "MODE", "value": "fast"}
    assert env[2] == pod["spec"]["containers"][0]["env"][2]  # which Secret and key: kept (no value there)
    assert masked["spec"]["volumes"] == pod["spec"]["volumes"]


def test_a_log_line_keeps_its_words_and_loses_a_known_secret():
    log = "2026-12-05 ready; connecting as postgres with pw-Zq81x to postgresql://u:other-pw@db/x\nTOKEN=abc\n"
    masked = mask_text(log, {"pw-Zq81x"})
    assert masked == "2026-12-05 ready; connecting as postgres with %s to postgresql://u:%s@db/x\nTOKEN=%s\n" % (MASK, MASK, MASK)
    assert mask_text("no secret here: a=b", {"pw-Zq81x"}) == "no secret here: a=b"
