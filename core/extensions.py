"""Extension objects, created unbound and initialised in :func:`core.create_app`."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from core.database import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address)
api = Api()


@limiter.request_filter
def limits_off_for_app() -> bool:
    """Rate limits apply only in apps configured with ``RATELIMIT_ENABLED``."""
    from flask import current_app

    return not current_app.config.get("ORBIT_RATE_LIMITS", True)
