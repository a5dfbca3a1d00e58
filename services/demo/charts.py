"""Synthetic FHIR R4 charts (US Core shaped) for the demo practices and the tests: a patient with
problems, prescriptions, immunizations, allergies, a procedure, a care plan, vitals, lab results
(some released to the patient, some not), clinical notes and appointments. Invented people only."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, timedelta

LOINC, SNOMED, RXNORM, CVX, UCUM = ("http://loinc.org", "http://snomed.info/sct",
                                    "http://www.nlm.nih.gov/research/umls/rxnorm", "http://hl7.org/fhir/sid/cvx",
                                    "http://unitsofmeasure.org")
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
MEDICATIONS = {"lisinopril": ("314076", "lisinopril 10 MG Oral Tablet"),
               "metformin": ("861007", "metformin hydrochloride 500 MG Oral Tablet"),
               "albuterol": ("745679", "albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
               "amoxicillin": ("308182", "amoxicillin 250 MG per 5 ML Oral Suspension"),
               "cetirizine": ("1014676", "cetirizine hydrochloride 10 MG Oral Tablet")}


def concept(system: str, code: str, display: str, text: str | None = None) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": text or display}


def _category(system: str, code: str, display: str) -> list[dict]:
    return [{"coding": [{"system": system, "code": code, "display": display}]}]


def _narrative(text: str) -> dict:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{text}</p></div>'}


def _attachment(text: str, title: str) -> dict:
    return {"contentType": "text/plain", "title": title, "data": base64.b64encode(text.encode()).decode()}


@dataclass
class Chart:
    """One patient's records at one practice; ``shared`` marks results released to the patient."""

    practice: str
    patient_id: str
    given: str
    family: str
    birth_date: date
    gender: str = "unknown"
    entries: list[tuple[dict, bool | None]] = field(default_factory=list)
    _serial: int = 0

    @property
    def ref(self) -> dict:
        return {"reference": f"Patient/{self.patient_id}", "display": f"{self.given} {self.family}"}

    def _id(self, kind: str) -> str:
        self._serial += 1
        return f"{self.patient_id}-{kind}-{self._serial}"

    def add(self, resource: dict, shared: bool | None = None) -> dict:
        self.entries.append((resource, shared))
        return resource

    def patient(self, phone: str = "555-0100") -> dict:
        return self.add({
            "resourceType": "Patient", "id": self.patient_id,
            "identifier": [{"system": f"https://{self.practice}.example/mrn", "value": self.patient_id.upper()}],
            "active": True, "name": [{"use": "official", "family": self.family, "given": [self.given]}],
            "gender": self.gender, "birthDate": self.birth_date.isoformat(),
            "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
            "address": [{"line": ["12 Example Lane"], "city": "Springfield", "state": "IL", "postalCode": "62701"}]})

    def condition(self, code: str, display: str, onset: str) -> dict:
        return self.add({
            "resourceType": "Condition", "id": self._id("cond"),
            "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
            "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed",
                                          "Confirmed"),
            "category": _category("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
                                  "Problem List Item"),
            "code": concept(SNOMED, code, display), "subject": self.ref, "onsetDateTime": onset})

    def medication(self, key: str) -> dict:
        code, display = MEDICATIONS[key]
        return self.add({"resourceType": "Medication", "id": f"med-{key}", "code": concept(RXNORM, code, display),
                         "status": "active"})

    def prescription(self, key: str, authored: str, instructions: str, status: str = "active") -> dict:
        medication = self.medication(key)
        return self.add({
            "resourceType": "MedicationRequest", "id": self._id("medrx"), "status": status, "intent": "order",
            "medicationReference": {"reference": f"Medication/{medication['id']}",
                                    "display": medication["code"]["text"]},
            "subject": self.ref, "authoredOn": authored, "requester": {"display": "Dr. Jordan Avery"},
            "dosageInstruction": [{"text": instructions}]})

    def immunization(self, cvx: str, display: str, when: str) -> dict:
        return self.add({"resourceType": "Immunization", "id": self._id("imm"), "status": "completed",
                         "vaccineCode": concept(CVX, cvx, display), "patient": self.ref,
                         "occurrenceDateTime": when, "primarySource": True})

    def allergy(self, code: str, display: str, reaction: str) -> dict:
        return self.add({
            "resourceType": "AllergyIntolerance", "id": self._id("allergy"),
            "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active",
                                      "Active"),
            "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                          "confirmed", "Confirmed"),
            "code": concept(SNOMED, code, display), "patient": self.ref,
            "reaction": [{"manifestation": [concept(SNOMED, "271807003", "Eruption of skin", reaction)]}]})

    def procedure(self, code: str, display: str, when: str) -> dict:
        return self.add({"resourceType": "Procedure", "id": self._id("proc"), "status": "completed",
                         "code": concept(SNOMED, code, display), "subject": self.ref, "performedDateTime": when})

    def care_plan(self, text: str, start: str) -> dict:
        return self.add({
            "resourceType": "CarePlan", "id": self._id("careplan"), "text": _narrative(text), "status": "active",
            "intent": "plan", "category": _category("http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                                                    "assess-plan", "Assessment and Plan of Treatment"),
            "subject": self.ref, "period": {"start": start}, "description": text})

    def vital(self, code: str, display: str, value: float, unit: str, when: str) -> dict:
        return self.add(self._observation("vital-signs", "Vital Signs", code, display, when,
                                          {"value": value, "unit": unit, "system": UCUM, "code": unit}))

    def blood_pressure(self, systolic: int, diastolic: int, when: str) -> dict:
        observation = self._observation("vital-signs", "Vital Signs", "85354-9", "Blood pressure panel", when, None)
        observation["component"] = [
            {"code": concept(LOINC, code, display), "valueQuantity": {"value": value, "unit": "mm[Hg]",
                                                                       "system": UCUM, "code": "mm[Hg]"}}
            for code, display, value in (("8480-6", "Systolic blood pressure", systolic),
                                         ("8462-4", "Diastolic blood pressure", diastolic))]
        return self.add(observation)

    def lab(self, code: str, display: str, value: float, unit: str, when: str, *, shared: bool) -> dict:
        return self.add(self._observation("laboratory", "Laboratory", code, display, when,
                                          {"value": value, "unit": unit, "system": UCUM, "code": unit}), shared)

    def _observation(self, category: str, category_display: str, code: str, display: str, when: str,
                     quantity: dict | None) -> dict:
        observation = {"resourceType": "Observation", "id": self._id("obs"), "status": "final",
                       "category": _category(OBSERVATION_CATEGORY, category, category_display),
                       "code": concept(LOINC, code, display), "subject": self.ref, "effectiveDateTime": when}
        if quantity is not None:
            observation["valueQuantity"] = quantity
        return observation

    def lab_report(self, code: str, display: str, results: list[dict], when: str, *, shared: bool) -> dict:
        return self.add({
            "resourceType": "DiagnosticReport", "id": self._id("report"), "status": "final",
            "category": [concept(V2_0074, "LAB", "Laboratory")], "code": concept(LOINC, code, display),
            "subject": self.ref, "effectiveDateTime": when, "issued": f"{when[:10]}T16:00:00Z",
            "result": [{"reference": f"Observation/{r['id']}"} for r in results]}, shared)

    def imaging_note(self, code: str, display: str, text: str, when: str) -> dict:
        return self.add({
            "resourceType": "DiagnosticReport", "id": self._id("imaging"), "status": "final",
            "category": [concept(LOINC, "LP29684-5", "Radiology")], "code": concept(LOINC, code, display),
            "subject": self.ref, "effectiveDateTime": when, "issued": f"{when[:10]}T17:00:00Z",
            "presentedForm": [_attachment(text, display)]})

    def note(self, code: str, display: str, text: str, when: str) -> dict:
        return self.add({
            "resourceType": "DocumentReference", "id": self._id("note"), "status": "current",
            "type": concept(LOINC, code, display),
            "category": _category("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                                  "clinical-note", "Clinical Note"),
            "subject": self.ref, "date": f"{when}T15:30:00Z", "author": [{"display": "Dr. Jordan Avery"}],
            "content": [{"attachment": _attachment(text, display)}], "context": {"period": {"start": when}}})

    def appointment(self, start: date, status: str, description: str) -> dict:
        begins = f"{start.isoformat()}T09:30:00Z"
        ends = f"{start.isoformat()}T10:00:00Z"
        return self.add({
            "resourceType": "Appointment", "id": self._id("appt"), "status": status, "description": description,
            "start": begins, "end": ends, "minutesDuration": 30,
            "participant": [{"actor": self.ref, "status": "accepted"},
                            {"actor": {"display": "Dr. Jordan Avery"}, "status": "accepted"}]})


def standard_chart(practice: str, patient_id: str, *, given: str, family: str, birth_date: date,
                   gender: str = "female", today: date | None = None) -> Chart:
    """A full chart: every type served, a released and an unreleased lab, notes, two appointments."""
    today = today or date.today()
    chart = Chart(practice, patient_id, given, family, birth_date, gender)
    chart.patient()
    chart.condition("195967001", "Asthma", "2019-04-02")
    chart.condition("367498001", "Seasonal allergic rhinitis", "2021-05-10")
    chart.prescription("albuterol", "2025-09-14", "2 puffs every 4 to 6 hours as needed for wheezing")
    chart.prescription("cetirizine", "2025-04-01", "1 tablet by mouth daily in allergy season")
    chart.immunization("150", "Influenza, injectable, quadrivalent, preservative free", "2025-10-03")
    chart.immunization("115", "Tdap", "2023-08-21")
    chart.allergy("91936005", "Allergy to penicillin", "Hives")
    chart.procedure("80146002", "Appendectomy", "2018-07-19")
    chart.care_plan("Asthma action plan: controller inhaler daily, rescue inhaler as needed, review in 6 months.",
                    "2025-09-14")
    chart.blood_pressure(118, 76, "2025-09-14T10:05:00Z")
    chart.vital("29463-7", "Body weight", 61.2, "kg", "2025-09-14T10:05:00Z")
    hemoglobin = chart.lab("718-7", "Hemoglobin [Mass/volume] in Blood", 13.6, "g/dL", "2025-09-14T11:00:00Z",
                           shared=True)
    glucose = chart.lab("2345-7", "Glucose [Mass/volume] in Serum or Plasma", 92, "mg/dL", "2025-09-14T11:00:00Z",
                        shared=True)
    tsh = chart.lab("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", 6.8, "m[IU]/L", "2026-01-20T09:00:00Z",
                    shared=False)
    chart.lab_report("58410-2", "CBC panel - Blood by Automated count", [hemoglobin, glucose], "2025-09-14T11:00:00Z",
                     shared=True)
    chart.lab_report("24348-5", "Basic metabolic panel - Serum or Plasma", [tsh], "2026-01-20T09:00:00Z",
                     shared=False)
    chart.imaging_note("36643-5", "XR Chest 2 Views", "Lungs clear. No acute cardiopulmonary process.", "2025-09-14")
    chart.note("11506-3", "Progress note", "Asthma well controlled. Continue current plan. Flu vaccine given.",
               "2025-10-03")
    chart.appointment(today - timedelta(days=45), "fulfilled", "Asthma review")
    chart.appointment(today + timedelta(days=21), "booked", "Annual physical")
    return chart
