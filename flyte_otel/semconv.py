"""Every span name, attribute key and enumerated value that flyte_otel emits or the analyzer recognises.

Upstream FlytePropeller (flytestdlib/otelutils) names are reused verbatim where the concept exists
upstream, so one analyzer reads both dialects; keys under ``flyte.*`` are ours, for what upstream lacks.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADMIN_SERVICE_PREFIX",
    "ARRAY_INDEX",
    "ARRAY_SIZE",
    "ATTEMPT",
    "ATTEMPT_NUMBER",
    "BLOB_KEY",
    "BLOB_SCHEME",
    "BLOB_SIZE",
    "CACHE_HIT",
    "CHECK_CATALOG_CACHE",
    "CHILD_EXEC_ID",
    "CREATE_NODE_EVENT",
    "CREATE_TASK_EVENT",
    "CREATE_WORKFLOW_EVENT",
    "DATACATALOG_PREFIX",
    "DOMAIN",
    "ETCD_SIZE",
    "EVENT_KIND",
    "EXECUTION",
    "EXEC_ID",
    "GORM_PREFIX",
    "HANDLE_NODE",
    "HANDLE_TASK",
    "HEAD_RAW",
    "IDLE",
    "IDLE_REASON",
    "K8S_CACHE_PREFIX",
    "K8S_CLIENT_PREFIX",
    "K8S_RESOURCE",
    "K8S_VERB",
    "LAUNCH_PLAN",
    "NAMESPACE",
    "NODE",
    "NODE_ID",
    "NODE_KIND",
    "NODE_PARENT",
    "NODE_UPSTREAM",
    "PHASE",
    "PHASE_FROM",
    "POD_DECK",
    "POD_DOWNLOAD",
    "POD_LOAD_TASK",
    "POD_TASK",
    "POD_TO_LITERAL",
    "POD_TO_PYTHON",
    "POD_UPLOAD",
    "POD_USER_CODE",
    "PROJECT",
    "PROMOTED_ATTRIBUTES",
    "READ_PROTOBUF",
    "READ_RAW",
    "RESOURCE_VERSION",
    "ROUND",
    "ROUTINE",
    "RPC_METHOD",
    "SERVICE_ADMIN_CLIENT",
    "SERVICE_ADMIN_GORM",
    "SERVICE_ADMIN_SERVER",
    "SERVICE_BLOBSTORE",
    "SERVICE_DATACATALOG_CLIENT",
    "SERVICE_DATACATALOG_GORM",
    "SERVICE_DATACATALOG_SERVER",
    "SERVICE_K8S",
    "SERVICE_PROPELLER",
    "SERVICE_TASK_POD",
    "STREAK",
    "STREAK_CHANGED",
    "TASK_NAME",
    "TASK_TYPE",
    "TASK_VERSION",
    "URI",
    "USER_CODE",
    "WORKFLOW",
    "WORKFLOW_STORE_GET",
    "WORKFLOW_STORE_UPDATE",
    "WRITE_CATALOG_CACHE",
    "WRITE_PROTOBUF",
    "WRITE_RAW",
    "Category",
    "EventKind",
    "IdleReason",
    "NodeKind",
    "Phase",
]

# --- services (resource attribute service.name) used by upstream Flyte components -------------------
SERVICE_PROPELLER: Final = "flytepropeller"
SERVICE_BLOBSTORE: Final = "blobstore-client"
SERVICE_K8S: Final = "k8s-client"
SERVICE_ADMIN_CLIENT: Final = "admin-client"
SERVICE_DATACATALOG_CLIENT: Final = "datacatalog-client"
SERVICE_ADMIN_SERVER: Final = "admin-server"
SERVICE_ADMIN_GORM: Final = "admin-gorm"
SERVICE_DATACATALOG_SERVER: Final = "datacatalog-server"
SERVICE_DATACATALOG_GORM: Final = "datacatalog-gorm"
SERVICE_TASK_POD: Final = "flytekit-task"  # a task pod's flytekit (flyte_otel.flytekit_instrumentor), ours

# --- span names shared with upstream FlytePropeller -------------------------------------------------
ROUND: Final = "pkg.controller.Propeller/Handle"  # one propeller round; upstream: each its own trace root
STREAK: Final = "pkg.controller.Propeller/streak"
WORKFLOW_STORE_GET: Final = "WorkflowStore.Get"  # informer / etcd read of the FlyteWorkflow CRD
WORKFLOW_STORE_UPDATE: Final = "WorkflowStore.Update"  # etcd write of the FlyteWorkflow CRD
HANDLE_NODE: Final = "pkg.controller.nodes.NodeExecutor/handleNode"
HANDLE_TASK: Final = "pkg.controller.nodes.task.Handler/HandleTask"
CHECK_CATALOG_CACHE: Final = "pkg.controller.nodes.NodeExecutor/CheckCatalogCache"
WRITE_CATALOG_CACHE: Final = "pkg.controller.nodes.NodeExecutor/WriteCatalogCache"
READ_PROTOBUF: Final = "flytestdlib.storage.DefaultProtobufStore/ReadProtobuf"
WRITE_PROTOBUF: Final = "flytestdlib.storage.DefaultProtobufStore/WriteProtobuf"
READ_RAW: Final = "flytestdlib.storage.cachedRawStore/ReadRaw"
WRITE_RAW: Final = "flytestdlib.storage.cachedRawStore/WriteRaw"
HEAD_RAW: Final = "flytestdlib.storage.cachedRawStore/Head"
K8S_CACHE_PREFIX: Final = "controller-runtime.pkg.client.Cache/"  # + Get | List (informer reads)
K8S_CLIENT_PREFIX: Final = "controller-runtime.pkg.client.Client/"  # + Create | Update | Delete | Patch
ADMIN_SERVICE_PREFIX: Final = "flyteidl.service.AdminService/"
CREATE_WORKFLOW_EVENT: Final = ADMIN_SERVICE_PREFIX + "CreateWorkflowEvent"
CREATE_NODE_EVENT: Final = ADMIN_SERVICE_PREFIX + "CreateNodeEvent"
CREATE_TASK_EVENT: Final = ADMIN_SERVICE_PREFIX + "CreateTaskEvent"
DATACATALOG_PREFIX: Final = "datacatalog.DataCatalog/"  # + GetArtifact | CreateArtifact | ...
GORM_PREFIX: Final = "gorm."

# --- span names flyte_otel adds (node lifecycle records for the overhead model) ---------------------
EXECUTION: Final = "flyte.execution"  # execution created -> execution done; the root in one-trace mode
NODE: Final = "flyte.node"  # node queued -> node terminal
ATTEMPT: Final = "flyte.task.attempt"  # task attempt created -> attempt observed terminal
USER_CODE: Final = "flyte.task.user_code"  # user code starts -> user code ends (pod clock)
IDLE: Final = "flyte.node.idle"  # gate / approval wait, or held back by max parallelism

# --- pod-side spans (flyte_otel.flytekit_instrumentor): flytekit's work inside the task pod ------------
POD_TASK: Final = "flyte.pod.task"  # the pod's task execution: the pod-side root
POD_LOAD_TASK: Final = "flyte.pod.load_task"
POD_DOWNLOAD: Final = "flyte.pod.download"  # one blobstore read (inputs, files)
POD_UPLOAD: Final = "flyte.pod.upload"  # one blobstore write (outputs, files)
POD_TO_PYTHON: Final = "flyte.pod.to_python"  # literals -> Python values
POD_USER_CODE: Final = "flyte.pod.user_code"  # the user's function
POD_TO_LITERAL: Final = "flyte.pod.to_literal"  # Python values -> literals
POD_DECK: Final = "flyte.pod.deck"  # deck writing

# --- attribute keys shared with upstream (copied from propeller's log context) ----------------------
EXEC_ID: Final = "exec_id"
NODE_ID: Final = "node"  # enclosing nodes' spec ids and its own, "/"-joined: "n1/n0" (upstream.md §2)
WORKFLOW: Final = "wf"
NAMESPACE: Final = "ns"
PHASE: Final = "phase"
TASK_TYPE: Final = "tasktype"
ROUTINE: Final = "routine"
LAUNCH_PLAN: Final = "lp"
RESOURCE_VERSION: Final = "res_ver"

# --- attribute keys flyte_otel adds ------------------------------------------------------------------
NODE_KIND: Final = "flyte.node.kind"  # one of NodeKind
NODE_PARENT: Final = "flyte.node.parent"  # node id of the enclosing dynamic/subworkflow/branch/array
NODE_UPSTREAM: Final = "flyte.node.upstream"  # string[]: node ids this node depends on
PHASE_FROM: Final = "flyte.phase.from"  # previous phase, with PHASE the new one
ATTEMPT_NUMBER: Final = "flyte.attempt"  # int, 0-based like upstream's retry attempt
EVENT_KIND: Final = "flyte.event.kind"  # one of EventKind
BLOB_KEY: Final = "flyte.blob.key"
BLOB_SIZE: Final = "flyte.blob.size"  # int bytes
ETCD_SIZE: Final = "flyte.etcd.size"  # int bytes of the FlyteWorkflow object written
CACHE_HIT: Final = "flyte.cache.hit"  # bool
K8S_VERB: Final = "flyte.k8s.verb"  # get | list | create | update | patch | delete | watch
K8S_RESOURCE: Final = "flyte.k8s.resource"  # pods | flyteworkflows | ...
RPC_METHOD: Final = "flyte.rpc.method"  # admin / datacatalog method for calls that are not events
IDLE_REASON: Final = "flyte.idle.reason"  # one of IdleReason
CHILD_EXEC_ID: Final = "flyte.child_exec_id"  # the launch plan node's child execution
ARRAY_SIZE: Final = "flyte.array.size"  # int: sub-tasks of an array / map node
ARRAY_INDEX: Final = "flyte.array.index"  # int: which sub-task an attempt belongs to
STREAK_CHANGED: Final = "flyte.streak.changed"  # bool: the streak changed state (so it wrote etcd)
PROJECT: Final = "flyte.project"  # the execution's project (FLYTE_INTERNAL_EXECUTION_PROJECT)
DOMAIN: Final = "flyte.domain"
TASK_NAME: Final = "flyte.task.name"
TASK_VERSION: Final = "flyte.task.version"
BLOB_SCHEME: Final = "flyte.blob.scheme"  # s3 | gs | abfs | file ...
URI: Final = "flyte.uri"  # a URI a flytekit timeit block's name held (cut from the span name)

# Attributes the analyzer promotes to columns of its span table (column name == key).
PROMOTED_ATTRIBUTES: Final = (
    EXEC_ID,
    NODE_ID,
    WORKFLOW,
    NAMESPACE,
    PHASE,
    TASK_TYPE,
    NODE_KIND,
    NODE_PARENT,
    NODE_UPSTREAM,
    PHASE_FROM,
    ATTEMPT_NUMBER,
    EVENT_KIND,
    BLOB_SIZE,
    ETCD_SIZE,
    CACHE_HIT,
    IDLE_REASON,
    CHILD_EXEC_ID,
    ARRAY_SIZE,
    ARRAY_INDEX,
)


class NodeKind:
    """Values of NODE_KIND."""

    TASK: Final = "task"
    CACHE_HIT: Final = "cache-hit"
    DYNAMIC: Final = "dynamic"
    SUBWORKFLOW: Final = "subworkflow"
    LAUNCH_PLAN: Final = "launchplan"
    ARRAY: Final = "array"
    BRANCH: Final = "branch"
    GATE: Final = "gate"
    START: Final = "start"
    END: Final = "end"
    ALL: Final = (TASK, CACHE_HIT, DYNAMIC, SUBWORKFLOW, LAUNCH_PLAN, ARRAY, BRANCH, GATE, START, END)


class EventKind:
    """Values of EVENT_KIND."""

    WORKFLOW: Final = "workflow"
    NODE: Final = "node"
    TASK: Final = "task"


class IdleReason:
    """Values of IDLE_REASON."""

    GATE: Final = "gate"
    MAX_PARALLELISM: Final = "max_parallelism"


class Phase:
    """Phase names as flyteidl spells them (core.WorkflowExecution/NodeExecution/TaskExecution.Phase)."""

    UNDEFINED: Final = "UNDEFINED"
    QUEUED: Final = "QUEUED"
    RUNNING: Final = "RUNNING"
    INITIALIZING: Final = "INITIALIZING"
    WAITING_FOR_RESOURCES: Final = "WAITING_FOR_RESOURCES"
    DYNAMIC_RUNNING: Final = "DYNAMIC_RUNNING"
    SUCCEEDING: Final = "SUCCEEDING"
    SUCCEEDED: Final = "SUCCEEDED"
    FAILING: Final = "FAILING"
    FAILED: Final = "FAILED"
    RETRYABLE_FAILURE: Final = "RETRYABLE_FAILURE"
    ABORTED: Final = "ABORTED"
    SKIPPED: Final = "SKIPPED"
    TIMED_OUT: Final = "TIMED_OUT"
    RECOVERED: Final = "RECOVERED"


class Category:
    """Span categories of DESIGN.md; the analyzer assigns one to every span from its rules table."""

    ROUND: Final = "round"
    STREAK: Final = "streak"
    ETCD_READ: Final = "etcd.read"
    ETCD_WRITE: Final = "etcd.write"
    EVENT_WORKFLOW: Final = "event.workflow"
    EVENT_NODE: Final = "event.node"
    EVENT_TASK: Final = "event.task"
    BLOBSTORE_READ: Final = "blobstore.read"
    BLOBSTORE_WRITE: Final = "blobstore.write"
    CACHE_LOOKUP: Final = "cache.lookup"
    CACHE_WRITE: Final = "cache.write"
    K8S: Final = "k8s"
    ADMIN: Final = "admin"
    NODE_HANDLE: Final = "node.handle"
    TASK_HANDLE: Final = "task.handle"
    USER: Final = "user"
    POD_TASK: Final = "pod.task"  # the task pod's run as flytekit sees it (flyte.pod.task)
    POD_DOWNLOAD: Final = "pod.download"
    POD_UPLOAD: Final = "pod.upload"
    POD_FLYTEKIT: Final = "pod.flytekit"  # flytekit's own work: loading the task, converting, the deck
    # flyte_otel's lifecycle records (EXECUTION, NODE, ATTEMPT, IDLE): data for the overhead model,
    # not orchestration work, so they are kept apart from "other".
    LIFECYCLE: Final = "lifecycle"
    OTHER: Final = "other"
    ALL: Final = (
        ROUND, STREAK, ETCD_READ, ETCD_WRITE, EVENT_WORKFLOW, EVENT_NODE, EVENT_TASK, BLOBSTORE_READ,
        BLOBSTORE_WRITE, CACHE_LOOKUP, CACHE_WRITE, K8S, ADMIN, NODE_HANDLE, TASK_HANDLE, USER,
        POD_TASK, POD_DOWNLOAD, POD_UPLOAD, POD_FLYTEKIT, LIFECYCLE, OTHER,
    )  # fmt: skip
