"""Records: the FHIR R4 resource server in front of each practice's records."""
