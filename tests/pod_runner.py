"""Run a container of a rendered pod spec on the Docker engine, as a kubelet would run it:
the same image, command and args, environment (values, ConfigMap and Secret references
resolved from the rendered objects, envFrom), and ConfigMap volumes, on a network where the
Services' names resolve. No cluster runs here; this proves that the Jobs and init containers
k8s_manifests renders do their work against the lab's real servers."""

import os
import tempfile


class PodRunner:
    def __init__(self, docker_client, network, objects, prefix, label):
        self.docker = docker_client
        self.network = network
        self.objects = objects  # every rendered object of the namespace
        self.prefix = prefix
        self.label = label
        self.started = []
        self.tmp = tempfile.mkdtemp(prefix="ananta-pods-")

    def _object(self, kind, name):
        for obj in self.objects:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        raise KeyError("%s %s is not among the rendered objects" % (kind, name))

    def _data(self, kind, name):
        obj = self._object(kind, name)
        return obj.get("stringData") or obj.get("data") or {}

    def environment(self, container):
        env = {}
        for source in container.get("envFrom") or []:
            env.update(self._data("ConfigMap", source["configMapRef"]["name"]))
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = item["value"]
                continue
            ref = item["valueFrom"]
            if "configMapKeyRef" in ref:
                env[item["name"]] = self._data("ConfigMap", ref["configMapKeyRef"]["name"])[ref["configMapKeyRef"]["key"]]
            else:
                env[item["name"]] = self._data("Secret", ref["secretKeyRef"]["name"])[ref["secretKeyRef"]["key"]]
        return env

    def volumes(self, pod_spec, container):
        binds = {}
        by_name = {v["name"]: v for v in pod_spec.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            volume = by_name.get(mount["name"])
            if volume is None or "configMap" not in volume:
                continue  # claims: the container's own filesystem stands in for them
            directory = os.path.join(self.tmp, mount["name"])
            os.makedirs(directory, exist_ok=True)
            for key, text in self._data("ConfigMap", volume["configMap"]["name"]).items():
                with open(os.path.join(directory, key), "w", encoding="utf-8") as handle:
                    handle.write(text)
            os.chmod(directory, 0o755)
            binds[directory] = {"bind": mount["mountPath"], "mode": "ro"}
        return binds

    def run(self, workload, container_name=None, init=False, aliases=(), detach=True):
        """Start one container of a workload's pod template; returns the Docker container."""
        from docker.types import EndpointConfig
        pod_spec = workload["spec"]["template"]["spec"]
        containers = pod_spec.get("initContainers" if init else "containers") or []
        container = [c for c in containers if container_name is None or c["name"] == container_name][0]
        name = "%s-%s-%s-%d" % (self.prefix, workload["metadata"]["name"], container["name"], len(self.started))
        kwargs = dict(image=container["image"], name=name, detach=True, environment=self.environment(container),
                      network=self.network.name, labels={self.label: self.prefix}, volumes=self.volumes(pod_spec, container),
                      networking_config={self.network.name: EndpointConfig(self.docker.api._version, aliases=list(aliases))})
        if container.get("command"):
            kwargs["entrypoint"] = container["command"]
            kwargs["command"] = container.get("args") or []
        elif container.get("args"):
            kwargs["command"] = container["args"]
        started = self.docker.containers.run(**kwargs)
        self.started.append(started)
        if not detach:
            started.wait(timeout=600)
            started.reload()
        return started

    def cleanup(self):
        for container in self.started:
            try:
                container.remove(force=True, v=True)
            except Exception:  # pylint: disable=broad-except
                pass
