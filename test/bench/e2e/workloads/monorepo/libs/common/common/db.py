from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .config import load

engine = create_engine(load()["database_url"])
Session = sessionmaker(bind=engine)
