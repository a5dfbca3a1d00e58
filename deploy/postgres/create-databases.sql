-- One database per service: no service reads another's tables.
CREATE DATABASE identity;
CREATE DATABASE registration;
CREATE DATABASE notifications;
CREATE DATABASE records;
