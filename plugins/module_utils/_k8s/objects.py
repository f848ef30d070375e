# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes objects of one catalog entry."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import (
    ANNOTATION_HASH, CONTAINER_SECURITY, DEFAULTS, TERMINATION_MESSAGE_POLICY, _container_ports, _hash, _labels, _seconds, _selector, _volumes,
)
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import kind_of, object_name
from ansible_collections.ananta.platform.plugins.module_utils._k8s import config as _config
from ansible_collections.ananta.platform.plugins.module_utils._k8s import init_containers as _init_containers


# Per readiness probe of the catalog, the handler of the kubelet's (startup, readiness, liveness)
# probes: "network" the readiness probe as httpGet or tcpSocket on the service's own container
# port, "port" a tcpSocket on that port, "exec" the catalog's healthcheck command. The kubelet runs
# a network check itself at no cost; a command is a process in the container, run only where
# nothing else judges as much: a database must accept queries (pg_isready, redis-cli ping: a port
# that listens is not enough), Temporal must answer for its namespace, a worker's process must run.
# RabbitMQ opens its AMQP port only once it has booted, so its startup probe is that port and its
# readiness its command (once booted, the kubelet runs the readiness probe at once).
# Liveness judges the process itself, never what it depends on: a health path that answers 503
# while a dependency is away (the platform's services report their dependencies there) would have
# the kubelet restart a healthy service each time a database rolls (found by the cluster test
# that rolls supabase-db twice: cns-service was killed by its liveness probe). Docker never kills
# a container for being unhealthy. So liveness is a connect to the service's port; a command only
# for a service without one (a worker: its process). Each falls back to the others when a service
# lacks it.


KUBELET_PROBES = {
    "http": ("network", "network", "port"),
    "tcp": ("network", "network", "port"),
    "amqp": ("network", "exec", "port"),
    "exec": ("exec", "exec", "port"),  # postgres, redis, temporal, process, docker_health and the rest
}


def exec_handler(r, svc):
    """The catalog's healthcheck command as an exec handler, or None."""
    test = (svc.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test and test[0] == "CMD":
        return {"exec": {"command": [str(t) for t in test[1:]]}}
    if test and test[0] == "CMD-SHELL":
        return {"exec": {"command": ["/bin/sh", "-c", " ".join(str(t) for t in test[1:])]}}
    return None


def network_handler(r, svc):
    """The readiness probe as the kubelet runs it itself (httpGet, tcpSocket on a container
    port), or None when it is not a network probe of the service's own port."""
    readiness = _init_containers.in_cluster_probe(r, svc.get("readiness")) or {}
    ports = {p["containerPort"] for p in _container_ports(svc)}
    if readiness.get("port") not in ports:
        return None
    if readiness.get("probe") == "http":
        return {"httpGet": {"path": readiness.get("path", "/"), "port": readiness["port"]}}
    return {"tcpSocket": {"port": readiness["port"]}}


def port_handler(r, svc):
    """A TCP connect to the port the service's readiness probe reaches, else to its first
    container port; None for a service without one (a worker)."""
    readiness = _init_containers.in_cluster_probe(r, svc.get("readiness")) or {}
    ports = [p["containerPort"] for p in _container_ports(svc)]
    if readiness.get("port") in ports:
        return {"tcpSocket": {"port": readiness["port"]}}
    return {"tcpSocket": {"port": ports[0]}} if ports else None


def probe_handlers(r, svc):
    """(startup, readiness, liveness) handlers by the catalog's readiness probe
    (``KUBELET_PROBES``): what the kubelet runs itself where it judges as much, the
    healthcheck's command where only a query can tell. None when nothing can run in a pod."""
    probe = (svc.get("readiness") or {}).get("probe", "running")
    network, command = network_handler(r, svc), exec_handler(r, svc)
    port = port_handler(r, svc)
    rule = KUBELET_PROBES.get(probe, KUBELET_PROBES["exec"])
    handlers = []
    for kind in rule:
        handler = {"network": network, "port": port, "exec": command}[kind]
        handlers.append(handler or command or network)
    if handlers[1] is None:
        return None
    return tuple(handlers)


def probes(r, svc):
    """readinessProbe, startupProbe and livenessProbe (see ``KUBELET_PROBES``).

    The startup probe gives the service its readiness budget (the catalog's
    ``readiness.timeout``, else the healthcheck's start period, else 300 s) to come up,
    checked every second (the kubelet runs the readiness probe the moment it passes); only
    then do the readiness and liveness probes run, at periods that keep an idle platform
    quiet: readiness every 10 s for what the kubelet runs itself, every 60 s for a command
    (each one a process in the container); liveness a connect to its port every 20 s (a
    command every 60 s for a service without a port). A hung service is restarted after
    ``retries`` (at least 3) failures in a row; a slow boot never is."""
    handlers = probe_handlers(r, svc)
    if handlers is None:
        return {}
    startup, readiness, liveness = handlers
    health = svc.get("healthcheck") or {}
    timeout = max(5, _seconds(health.get("timeout"), 5))
    retries = max(3, int(health.get("retries") or 3))
    budget = _seconds((svc.get("readiness") or {}).get("timeout")) or _seconds(health.get("start_period")) or 300

    def period(handler, light, heavy):
        return heavy if "exec" in handler else light

    return {
        "readinessProbe": dict(readiness, periodSeconds=period(readiness, 10, 60), timeoutSeconds=timeout,
                               failureThreshold=retries),
        "startupProbe": dict(startup, periodSeconds=1, timeoutSeconds=timeout, failureThreshold=max(retries, budget)),
        "livenessProbe": dict(liveness, periodSeconds=period(liveness, 20, 60), timeoutSeconds=timeout,
                              failureThreshold=retries),
    }


def resources(r, svc):
    """The service's resources over the defaults, so that every container has both requests and limits."""
    own = (svc.get("kubernetes") or {}).get("resources") or {}
    defaults = r.opts["default_resources"] or DEFAULTS["default_resources"]
    return {part: dict(defaults.get(part) or {}, **(own.get(part) or {})) for part in ("requests", "limits")}


def container(r, svc, secret_data, config_maps):
    name = object_name(svc)
    plain, env = _config.pod_env(r, svc, secret_data)
    container = {"name": name, "image": svc["image"], "imagePullPolicy": r.opts["image_pull_policy"]}
    if svc.get("command"):
        command = svc["command"]
        container["args"] = [str(c) for c in (command if isinstance(command, list) else ["/bin/sh", "-c", command])]
    ports = _container_ports(svc)
    if ports:
        container["ports"] = ports
    if plain:
        config_maps[name + "-config"] = plain
        container["envFrom"] = [{"configMapRef": {"name": name + "-config"}}]
    if env:
        container["env"] = env
    container.update(probes(r, svc))
    container["resources"] = resources(r, svc)
    container["securityContext"] = dict(CONTAINER_SECURITY)
    container["terminationMessagePolicy"] = TERMINATION_MESSAGE_POLICY
    mounts = [{"name": volume, "mountPath": path, "subPath": "data", "readOnly": read_only}
              for volume, path, read_only in _volumes(svc)]
    if mounts:
        for mount in mounts:
            if not mount["readOnly"]:
                del mount["readOnly"]
        container["volumeMounts"] = mounts
    return container


def pod_spec(r, svc, secret_data, config_maps, restart="Always"):
    # the platform's pods do not talk to the Kubernetes API: no token in them
    spec = {"enableServiceLinks": False, "automountServiceAccountToken": False, "restartPolicy": restart,
            # as long as Docker gives a container to stop (the catalog's stop_grace_period, else 10 s)
            "terminationGracePeriodSeconds": _seconds(svc.get("stop_grace_period"), 10)}
    init = _init_containers.init_containers(r, svc, secret_data)
    if init:
        spec["initContainers"] = init
    spec["containers"] = [container(r, svc, secret_data, config_maps)]
    if r.opts["image_pull_secrets"]:
        spec["imagePullSecrets"] = [{"name": n} for n in r.opts["image_pull_secrets"]]
    return spec


def meta(r, name, namespace, labels, annotations=None):
    meta = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return meta


def service_object(r, svc, name=None, headless=False):
    ports = _container_ports(svc)
    if not ports:
        return None
    spec = {"selector": _selector(r.project, object_name(svc)),
            "ports": [{"name": p["name"], "port": p["containerPort"], "targetPort": p["containerPort"],
                       "protocol": p["protocol"]} for p in ports]}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": meta(r, name or object_name(svc), r.namespace_of(svc),
                             _labels(r.project, svc["plane"], object_name(svc), svc.get("level"))),
            "spec": spec}


def workload(r, svc, secret_data, config_maps):
    kind = kind_of(svc)
    name, namespace = object_name(svc), r.namespace_of(svc)
    kube = svc.get("kubernetes") or {}
    labels = _labels(r.project, svc["plane"], name, svc.get("level"))
    template_meta = {"labels": dict(labels)}
    restart = "Never" if kind == "Job" else "Always"
    pod = pod_spec(r, svc, secret_data, config_maps, restart)
    own_secrets = {k: v for k, v in secret_data.items() if k.startswith(name + ".")}
    # a changed ConfigMap or Secret value rolls the pods (their template changes); so does a
    # change of a dependency it declares in restart_with (compose's restart: true), whose
    # phase comes first: it rolls after that dependency is ready
    hashed = [pod, config_maps.get(name + "-config"), own_secrets]
    if svc.get("restart_with"):
        hashed.append([template_hash(r, r.by_name[dep]) for dep in svc["restart_with"]])
    template_meta["annotations"] = {ANNOTATION_HASH: _hash(hashed)}
    r._template_hashes[svc["name"]] = template_meta["annotations"][ANNOTATION_HASH]
    template = {"metadata": template_meta, "spec": pod}
    objects = []
    if kind == "StatefulSet":
        claims = [{"metadata": {"name": volume, "labels": _labels(r.project, svc["plane"], name)},
                   "spec": claim_spec(r, kube)} for volume, _path, _ro in _volumes(svc)]
        headless = service_object(r, svc, headless=True)
        if headless is None:  # a StatefulSet needs its governing Service
            headless = {"apiVersion": "v1", "kind": "Service",
                        "metadata": meta(r, name, namespace, labels),
                        "spec": {"clusterIP": "None", "selector": _selector(r.project, name)}}
        objects.append(headless)
        spec = {"serviceName": name, "replicas": int(kube.get("replicas", 1)),
                "selector": {"matchLabels": _selector(r.project, name)}, "template": template}
        if claims:
            spec["volumeClaimTemplates"] = claims
        objects.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(r, name, namespace, labels),
                        "spec": spec})
    elif kind == "Deployment":
        volumes = _volumes(svc)
        for volume, _path, _ro in volumes:
            objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": meta(r, volume, namespace, _labels(r.project, svc["plane"], name)),
                            "spec": claim_spec(r, kube)})
        if volumes:
            pod["volumes"] = [{"name": v, "persistentVolumeClaim": {"claimName": v}} for v, _p, _r in volumes]
        spec = {"replicas": int(kube.get("replicas", 1)), "selector": {"matchLabels": _selector(r.project, name)},
                "template": template}
        if volumes:
            spec["strategy"] = {"type": "Recreate"}  # a ReadWriteOnce claim is held by one pod at a time
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(r, name, namespace, labels),
                        "spec": spec})
        service = service_object(r, svc)
        if service:
            objects.append(service)
    else:
        objects.append(job(r, name, namespace, labels, template, int(kube.get("backoff_limit", 2))))
    if name != svc["name"] and kind != "Job":
        alias = service_object(r, svc, name=svc["name"])
        if alias:
            objects.append(alias)
    return objects


def template_hash(r, svc):
    """The checksum on ``svc``'s pod template (its configuration, and that of what it
    restarts with), rendered on its own when its plane is not being rendered."""
    if svc["name"] not in r._template_hashes:
        workload(r, svc, {}, {})
    return r._template_hashes[svc["name"]]


def job(r, name, namespace, labels, template, backoff_limit):
    template["spec"]["restartPolicy"] = "Never"  # failed pods stay, with their logs
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": meta(r, name, namespace, labels, {ANNOTATION_HASH: template["metadata"]["annotations"][ANNOTATION_HASH]}),
            "spec": {"backoffLimit": backoff_limit, "template": template}}


def claim_spec(r, kube):
    spec = {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": str(kube.get("storage") or r.opts["default_storage"])}}}
    storage_class = kube.get("storage_class") or r.opts["storage_class"]
    if storage_class:
        spec["storageClassName"] = storage_class
    return spec
