"""JupyterHub on one machine for the dlci course: the hub that tests/test_hub_deployment.py runs.

The same roles as the Kubernetes deployment (values.yaml), on one host: real Unix users,
LocalProcessSpawner, configurable-http-proxy, one shared nbgrader exchange folder. Students get
deploy/jupyter/student (assignment list, no formgrader), instructors deploy/jupyter/instructor
(formgrader, create assignment, course directory ~/course): the same folders the images copy to
/etc/jupyter. Everything is read from environment variables, so a test (or an admin trying
the kit on one machine) starts it with ``jupyterhub -f autograder/deploy/jupyterhub_config.py``.

Environment:
    DLCI_HUB_STATE          folder for the hub's database, cookie secret and pid files (required)
    DLCI_HUB_PASSWORD       the shared login password for course users, >= 8 characters (required)
    DLCI_HUB_INSTRUCTORS    comma-separated user names in the instructors group (required)
    DLCI_HUB_STUDENTS       comma-separated user names in the students group (required)
    NBGRADER_EXCHANGE       the shared exchange folder, mode 0777 (required)
    DLCI_HUB_PORT           public port of the proxy on 127.0.0.1 (default 8000)
    DLCI_HUB_API_PORT       the hub's own port on 127.0.0.1 (default 8081)
    DLCI_HUB_PROXY_API_PORT the proxy's REST API port on 127.0.0.1 (default 8001)
    DLCI_HUB_PROXY_COMMAND  path of configurable-http-proxy (default: found on PATH)
    DLCI_HUB_USER_PYTHON    the Python that runs users' servers and kernels, readable by every
                            user (default: the hub's own interpreter)
    DLCI_HUB_SERVICE_TOKEN  if set, a service ``dlci-test-driver`` with this token may manage users
    DLCI_DATA               the course data root, passed on to every single-user server
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821

DEPLOY = Path(__file__).resolve().parent
env = os.environ
state = Path(env["DLCI_HUB_STATE"])
instructors = [u for u in env["DLCI_HUB_INSTRUCTORS"].split(",") if u]
students = [u for u in env["DLCI_HUB_STUDENTS"].split(",") if u]

# Loopback only: the proxy (public), the hub and the proxy's API.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(env.get("DLCI_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env.get("DLCI_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env.get('DLCI_HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [env.get("DLCI_HUB_PROXY_COMMAND", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.JupyterHub.pid_file = str(state / "hub.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every single-user server

# Course users log in with one shared password (a test hub; use your university's
# OAuthenticator/LTI authenticator in production, see README.md).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = env["DLCI_HUB_PASSWORD"]
c.Authenticator.allowed_users = set(instructors + students)

# The instructor role: see and manage the students' servers, and use the admin page for them.
c.JupyterHub.load_groups = {
    "instructors": {"users": instructors},
    "students": {"users": students},
}
roles = [
    {
        "name": "instructor",
        "description": "Course staff: list students, start/stop and open their servers.",
        "scopes": [
            "admin-ui",
            "list:users",
            "read:users!group=students",
            "admin:servers!group=students",
            "access:servers!group=students",
        ],
        "groups": ["instructors"],
    }
]
if env.get("DLCI_HUB_SERVICE_TOKEN"):
    c.JupyterHub.services = [
        {"name": "dlci-test-driver", "api_token": env["DLCI_HUB_SERVICE_TOKEN"]}
    ]
    roles.append(
        {
            "name": "dlci-test-driver",
            "scopes": ["admin:users", "admin:servers", "tokens", "read:groups"],
            "services": ["dlci-test-driver"],
        }
    )
c.JupyterHub.load_roles = roles

# Each user's server runs as that Unix user, from the kit's environment, on loopback.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = [env.get("DLCI_HUB_USER_PYTHON", sys.executable), "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def pre_spawn_hook(spawner: object) -> None:
    """Give the user their role's Jupyter config (what the two images put in /etc/jupyter)."""
    role = "instructor" if spawner.user.name in instructors else "student"
    spawner.environment = {
        **spawner.environment,
        "JUPYTER_CONFIG_PATH": str(DEPLOY / "jupyter" / role),
        "NBGRADER_EXCHANGE": env["NBGRADER_EXCHANGE"],
        "DLCI_COURSE_ID": env.get("DLCI_COURSE_ID", "dlci"),
        **({"DLCI_DATA": env["DLCI_DATA"]} if env.get("DLCI_DATA") else {}),
    }


c.Spawner.pre_spawn_hook = pre_spawn_hook
