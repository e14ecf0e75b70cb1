"""The Celery application of a deployment (``celery -A api.worker worker``; ``aqd worker`` and
``aqd scheduler`` build the same one): its tasks run on the engine of the application's
composition root (``api.bootstrap``), so signing's side effects run too."""

from api import bootstrap
from engine.worker.celery_app import make_celery

app = make_celery(bootstrap.build)
