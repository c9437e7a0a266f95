-- One database per service: each service owns its data and migrates it with Alembic at start.
CREATE DATABASE psp_listener;
CREATE DATABASE psp_rules;
CREATE DATABASE psp_matching;
CREATE DATABASE psp_notification;
CREATE DATABASE psp_console;
