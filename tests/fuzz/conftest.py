"""The fuzz suites' fixtures: each service's app on the suite's databases, identity served over HTTP
(records and registration fetch its keys), and the tokens that get a request past authentication."""
from tests.records.conftest import (charts, identity_app, identity_db, identity_server, make_account,  # noqa: F401
                                    make_client, people, practices, records_app, records_db, records_settings,
                                    reader, sign_in, tokens)
from tests.registration.conftest import operator, practice, registration_server  # noqa: F401
