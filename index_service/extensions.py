"""Flask extensions, created unbound so that every app (and every test) binds its own."""

from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from index_service.database import Base, IndexSession

db = SQLAlchemy(model_class=Base, session_options={"class_": IndexSession})
migrate = Migrate()
csrf = CSRFProtect()
api = Api()
