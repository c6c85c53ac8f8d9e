-- Run once by the postgres image on an empty volume: the Prefect server's own database next to
-- emgsonar's (POSTGRES_DB), and the intarray extension emgsonar's GIN indexes need.
CREATE DATABASE prefect;
\connect emgsonar
CREATE EXTENSION IF NOT EXISTS intarray;
