-- One database per service: no service reads another's tables.
CREATE DATABASE identity;
CREATE DATABASE registration;
CREATE DATABASE notifications;
CREATE DATABASE records;
-- The demo practice portals (examples/portal) keep their server-side sessions here.
CREATE DATABASE portal_riverside;
CREATE DATABASE portal_hillside;
