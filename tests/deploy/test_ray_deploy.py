"""deploy/k8s's Ray pieces agree with the code: the KubeRay RayCluster runs the ray release the project pins and
the image the Dagster run pods run, mounts the data root where the run pods do, fits the part tasks' declared
resources; the run pods' ConfigMap selects the Ray executor and points RAY_ADDRESS at that cluster's head service."""
import re
from importlib.metadata import version
from pathlib import Path

import yaml

from corpus.executors import EXECUTOR_ENV, RAY, RayTaskResources

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"


def _load(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


def _quantity_bytes(q: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMGT]i)?", q).groups()
    return int(number) * 1024 ** {None: 0, "Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4}[unit]


def _pinned_ray() -> str:
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'"ray==([\d.]+)"', text).group(1)


def test_the_raycluster_runs_the_pinned_ray_and_the_run_pods_image_on_the_shared_data_root():
    cluster, values = _load("raycluster.yaml"), _load("values.yaml")
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert cluster["spec"]["rayVersion"] == _pinned_ray() == version("ray")
    image = values["dagster-user-deployments"]["deployments"][0]["image"]
    run_mounts = values["runLauncher"]["config"]["k8sRunLauncher"]["volumeMounts"]
    pods = [cluster["spec"]["headGroupSpec"]["template"]["spec"]] + \
        [g["template"]["spec"] for g in cluster["spec"]["workerGroupSpecs"]]
    for pod in pods:
        container = pod["containers"][0]
        assert container["image"] == f"{image['repository']}:{image['tag']}"
        assert run_mounts[0] in container["volumeMounts"]
        assert {"configMapRef": {"name": "llama-corpus-env"}} in container["envFrom"]
        claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
        assert claims[run_mounts[0]["name"]] == "corpus-data"


def test_each_worker_pod_fits_whole_part_tasks_by_their_declared_resources():
    resources = RayTaskResources()
    for group in _load("raycluster.yaml")["spec"]["workerGroupSpecs"]:
        cpus = int(group["rayStartParams"]["num-cpus"])
        requests = group["template"]["spec"]["containers"][0]["resources"]["requests"]
        assert int(requests["cpu"]) == cpus >= resources.num_cpus
        tasks = cpus // resources.num_cpus
        assert _quantity_bytes(requests["memory"]) >= tasks * resources.memory
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_the_run_pods_env_selects_ray_at_the_clusters_head_service_with_the_default_task_resources():
    cluster, env, values = _load("raycluster.yaml"), _load("corpus-env.yaml"), _load("values.yaml")
    assert (env["kind"], env["metadata"]["name"]) == ("ConfigMap", "llama-corpus-env")
    assert {"name": "llama-corpus-env"} in values["runLauncher"]["config"]["k8sRunLauncher"]["envConfigMaps"]
    data = env["data"]
    assert data[EXECUTOR_ENV] == RAY
    host, port = data["RAY_ADDRESS"].rsplit(":", 1)
    meta = cluster["metadata"]
    assert host == f"{meta['name']}-head-svc.{meta['namespace']}.svc.cluster.local" and env["metadata"]["namespace"] == meta["namespace"]
    ports = {p["name"]: p["containerPort"] for p in cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]}
    assert int(port) == ports["gcs-server"]
    d = RayTaskResources()
    assert (int(data["CORPUS_RAY_TASK_CPUS"]), int(data["CORPUS_RAY_TASK_MEMORY"]), int(data["CORPUS_RAY_TASK_MAX_RETRIES"])) == \
        (d.num_cpus, d.memory, d.max_retries)
    assert data["CORPUS_DATA_ROOT"] == values["runLauncher"]["config"]["k8sRunLauncher"]["volumeMounts"][0]["mountPath"]
