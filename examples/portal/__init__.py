"""An example practice portal: sign-in with CareKey (OpenID Connect) and the patient's records
from CareKey's records gateway. See README.md beside this file."""
