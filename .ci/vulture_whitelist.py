# Names vulture reports as unused that are used on purpose (reviewed; one reason each).
# vulture reads this file, nothing runs it. Dead code is deleted, never listed here.
# ruff: noqa
_ = object()

# Columns of tables the migrations create: the models must describe the whole table
# (tests/db/test_schema.py), even columns only the database or a migration writes.
received_at  # channels/models.py, runtime/models.py
LoginThrottle  # identity/models.py: the login_throttle table
key_hash
failures
window_start

# Fields of response and document models, read by clients and by serialisation.
csrf_token  # identity/schemas.py
otpauth_uri
recovery_codes
refresh_expires_in  # oauth/catalog.py: catalog.json field
policy_version  # governance/decisions.py: audit record field
schema_version  # governance/policy.py: policy document field
tenant_state  # runtime/service.py: reconcile report field
INVISIBLE_TEXT  # governance/decisions.py: a Reason enum member (reported in decisions)

# Public API of a small class kept whole (tests and benchmarks use parts of it).
_.in_flight  # gateway/limits.py
_.run_sync
_.score_features  # governance/detectors/linear.py
_.reference  # release/build.py: BuiltImage.reference, the image's podman reference

_.max_length  # governance/policy.py: ArgConstraint fields, read through model_dump by
_.minimum  # osp.checks.arguments (the one argument validator)
_.maximum

# pytest reads module-level marks.
pytestmark

# httpcore calls the NetworkBackend interface (osp.oauth.egress.GuardedBackend).
_.connect_unix_socket
# prometheus-client calls a Collector's collect() and describe() (osp.web.metrics).
_.collect
_.describe

# Module-level __getattr__ (PEP 562): Python calls it for the lazy exports of osp.governance.
__getattr__  # governance/__init__.py

# Release manifests and brand overlays: fields serialised into the signed manifest and into
# /opt/osp/brand/brand.json (read by the console and the agent, not by Python attribute).
built_at  # release/manifest.py
agent_name  # release/scan.py Brand
preamble

# socketserver hooks, called by the standard library
verify_request  # runtime/operator.py

# uvicorn calls Server.capture_signals (osp.app.server._Server replaces it) and reads
# force_exit in its main loop (set by osp up's own signal handler).
_.capture_signals
_.force_exit
