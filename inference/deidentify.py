"""De-identification of DICOM datasets: PS3.15 Annex E, Basic Application Level
Confidentiality Profile.

    deidentify(ds, salt=None) -> a de-identified deep copy

Attributes of the profile's table are removed (X) or emptied (Z, type 2 attributes the IODs
require); instance UIDs are replaced consistently (same old UID -> same new UID within a call);
private tags, curves and overlays are dropped; any remaining person name is emptied and any other
date/time or free-text element outside an allow-list of technical attributes is removed, which
covers attributes the table misses. The result says so: ``PatientIdentityRemoved=YES`` and a
``DeidentificationMethodCodeSequence`` (DCM 113100).
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

DEIDENTIFICATION_METHOD = "PS3.15 Annex E Basic Profile (screening portal)"

# PS3.15 Annex E, Table E.1-1, Basic Application Level Confidentiality Profile: attributes whose
# action is X (remove). Unknown keywords are ignored (tests check each one resolves).
REMOVE_KEYWORDS: tuple[str, ...] = (
    "AccessionNumber",
    "AcquisitionComments",
    "AcquisitionContextSequence",
    "AcquisitionDeviceProcessingDescription",
    "AcquisitionProtocolDescription",
    "ActualHumanPerformersSequence",
    "AdditionalPatientHistory",
    "AdmissionID",
    "AdmittingDate",
    "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription",
    "AdmittingTime",
    "Allergies",
    "AuthorObserverSequence",
    "BranchOfService",
    "CassetteID",
    "ConfidentialityConstraintOnPatientDataDescription",
    "ContentCreatorIdentificationCodeSequence",
    "ContributionDescription",
    "CountryOfResidence",
    "CurrentPatientLocation",
    "CustodialOrganizationSequence",
    "DataSetTrailingPadding",
    "DerivationDescription",
    "DetectorID",
    "DeviceSerialNumber",
    "DigitalSignaturesSequence",
    "DischargeDiagnosisDescription",
    "DistributionAddress",
    "DistributionName",
    "EthnicGroup",
    "FrameComments",
    "GantryID",
    "GeneratorID",
    "HumanPerformerName",
    "HumanPerformerOrganization",
    "IconImageSequence",
    "IdentifyingComments",
    "ImageComments",
    "ImagePresentationComments",
    "ImagingServiceRequestComments",
    "Impressions",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionName",
    "InstitutionalDepartmentName",
    "InsurancePlanIdentification",
    "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationApproverSequence",
    "InterpretationAuthor",
    "InterpretationDiagnosisDescription",
    "InterpretationIDIssuer",
    "InterpretationRecorder",
    "InterpretationText",
    "InterpretationTranscriber",
    "IssuerOfAdmissionID",
    "IssuerOfPatientID",
    "IssuerOfServiceEpisodeID",
    "LastMenstrualDate",
    "MedicalAlerts",
    "MedicalRecordLocator",
    "MilitaryRank",
    "ModifiedAttributesSequence",
    "ModifiedImageDescription",
    "ModifyingDeviceID",
    "NamesOfIntendedRecipientsOfResults",
    "NameOfPhysiciansReadingStudy",
    "Occupation",
    "OperatorIdentificationSequence",
    "OperatorsName",
    "OrderCallbackPhoneNumber",
    "OrderEnteredBy",
    "OrderEntererLocation",
    "OriginalAttributesSequence",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "ParticipantSequence",
    "PatientAddress",
    "PatientAge",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientComments",
    "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName",
    "PatientPrimaryLanguageCodeSequence",
    "PatientPrimaryLanguageModifierCodeSequence",
    "PatientReligiousPreference",
    "PatientSexNeutered",
    "PatientSize",
    "PatientState",
    "PatientTelephoneNumbers",
    "PatientTransportArrangements",
    "PatientWeight",
    "PerformedLocation",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "PerformedStationAETitle",
    "PerformedStationGeographicLocationCodeSequence",
    "PerformedStationName",
    "PerformedStationNameCodeSequence",
    "PerformingPhysicianIdentificationSequence",
    "PerformingPhysicianName",
    "PersonAddress",
    "PersonIdentificationCodeSequence",
    "PersonTelephoneNumbers",
    "PhysicianApprovingInterpretation",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PhysiciansReadingStudyIdentificationSequence",
    "PlateID",
    "PreMedication",
    "PregnancyStatus",
    "ReasonForTheImagingServiceRequest",
    "ReasonForTheRequestedProcedure",
    "ReasonForVisit",
    "ReasonForStudy",
    "ReferencedDigitalSignatureSequence",
    "ReferencedPatientAliasSequence",
    "ReferencedPatientSequence",
    "ReferencedPerformedProcedureStepSequence",
    "ReferencedSOPInstanceMACSequence",
    "ReferencedStudySequence",
    "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence",
    "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence",
    "RequestAttributesSequence",
    "RequestedContrastAgent",
    "RequestedProcedureComments",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "RequestedProcedureLocation",
    "RequestingPhysician",
    "RequestingService",
    "ResponsibleOrganization",
    "ResponsiblePerson",
    "ResultsComments",
    "ResultsDistributionListSequence",
    "ResultsIDIssuer",
    "ScheduledHumanPerformersSequence",
    "ScheduledPatientInstitutionResidence",
    "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepLocation",
    "ScheduledStationAETitle",
    "ScheduledStationGeographicLocationCodeSequence",
    "ScheduledStationName",
    "ScheduledStationNameCodeSequence",
    "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle",
    "SeriesDescription",
    "ServiceEpisodeDescription",
    "ServiceEpisodeID",
    "SmokingStatus",
    "SpecialNeeds",
    "StationName",
    "StudyComments",
    "StudyDescription",
    "StudyIDIssuer",
    "TextComments",
    "TextString",
    "TopicAuthor",
    "TopicKeywords",
    "TopicSubject",
    "TopicTitle",
    "VerifyingObserverIdentificationCodeSequence",
    "VerifyingObserverName",
    "VerifyingObserverSequence",
    "VerifyingOrganization",
    "VisitComments",
)
# Type 2 attributes the IODs require to be present: emptied (action Z) rather than removed.
EMPTY_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "ReferringPhysicianName",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ContentCreatorName",
)
# UIDs that identify a DICOM *class* (not an instance): never replaced.
_KEEP_UID_KEYWORDS = frozenset(
    {
        "SOPClassUID",
        "MediaStorageSOPClassUID",
        "ReferencedSOPClassUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "MappingResourceUID",
        "PrivateInformationCreatorUID",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
        "ReferencedTransferSyntaxUIDInFile",
    }
)
# Text and date/time VRs: any remaining element of these VRs outside this allow-list is emptied
# (PN) or removed (dates/times; free text), which covers attributes the tables above miss.
_KEEP_TEXT_KEYWORDS = frozenset(
    {
        "Modality",
        "ViewPosition",
        "BodyPartExamined",
        "PatientOrientation",
        "PhotometricInterpretation",
        "ImageType",
        "ConversionType",
        "PresentationIntentType",
        "RescaleType",
        "WindowCenterWidthExplanation",
        "VOILUTFunction",
        "LossyImageCompression",
        "LossyImageCompressionMethod",
        "BurnedInAnnotation",
        "PixelIntensityRelationship",
        "PositionerType",
        "ImageLaterality",
        "Laterality",
        "SpecificCharacterSet",
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "Manufacturer",
        "ManufacturerModelName",
        "LUTExplanation",
        "ModalityLUTType",
        "ImplementationVersionName",
        "SourceApplicationEntityTitle",
        "DetectorType",
        "Grid",
        "FilterType",
        "CollimatorShape",
        "ExposureControlMode",
        "PixelSpacingCalibrationType",
        "ImagerPixelSpacing",
        "PatientPosition",
        "SeriesNumber",
        "InstanceNumber",
        "AcquisitionNumber",
    }
)
_FREE_TEXT_VRS = frozenset({"LT", "ST", "UT", "LO", "SH", "UC"})
_DATE_VRS = frozenset({"DA", "DT", "TM"})


def _uid_mapper(salt: str) -> Callable[[str], str]:
    from pydicom.uid import generate_uid

    cache: dict[str, str] = {}

    def replace(uid: str) -> str:
        uid = str(uid).strip()
        if not uid:
            return uid
        if uid not in cache:
            cache[uid] = str(generate_uid(entropy_srcs=[salt, uid]))
        return cache[uid]

    return replace


def _is_registered_uid(value: str) -> bool:
    from pydicom._uid_dict import UID_dictionary

    return str(value).strip() in UID_dictionary


def deidentify(ds: Dataset, *, salt: str | None = None) -> Dataset:
    """A de-identified deep copy of ``ds`` (PS3.15 Annex E basic profile; see module doc).

    Within one call every UID maps to the same replacement wherever it appears (file meta,
    sequences, references); ``salt`` fixes the mapping across calls (default: random per call).
    """
    from pydicom.datadict import tag_for_keyword

    out = copy.deepcopy(ds)
    cleaner = _Cleaner(
        replace_uid=_uid_mapper(salt if salt is not None else secrets.token_hex(16)),
        remove_tags={t for t in (tag_for_keyword(k) for k in REMOVE_KEYWORDS) if t is not None},
        empty_tags={t for t in (tag_for_keyword(k) for k in EMPTY_KEYWORDS) if t is not None},
    )
    cleaner.clean(out, top=True)
    _mark_deidentified(out, cleaner.replace_uid)
    return out


@dataclass
class _Cleaner:
    replace_uid: Callable[[str], str]
    remove_tags: set
    empty_tags: set

    def clean(self, dataset: Dataset, *, top: bool) -> None:
        dataset.remove_private_tags()
        for elem in list(dataset):
            if not self._keep(elem, top=top):
                del dataset[elem.tag]

    def _keep(self, elem: DataElement, *, top: bool) -> bool:
        """Clean one element in place; False when it must be removed."""
        from pydicom.datadict import keyword_for_tag
        from pydicom.sequence import Sequence

        tag = elem.tag
        keyword = keyword_for_tag(tag) or ""
        if 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF:
            return False  # curves and overlays (may carry burned text / comments)
        if tag in self.remove_tags:
            return False
        if tag in self.empty_tags and top:
            elem.value = ""
        elif elem.VR == "SQ":
            for item in elem.value if isinstance(elem.value, Sequence) else []:
                self.clean(item, top=False)
        elif elem.VR == "UI":
            if keyword not in _KEEP_UID_KEYWORDS:
                self._replace_uids(elem)
        elif elem.VR == "PN":
            elem.value = ""
        elif keyword in _KEEP_TEXT_KEYWORDS:
            pass
        elif elem.VR in _DATE_VRS or elem.VR in _FREE_TEXT_VRS or elem.VR == "AS":
            if tag not in self.empty_tags:
                return False
            elem.value = ""
        return True

    def _replace_uids(self, elem: DataElement) -> None:
        values = elem.value if elem.VM > 1 else [elem.value]
        new = [v if _is_registered_uid(v) else self.replace_uid(v) for v in values if v]
        elem.value = new if elem.VM > 1 else (new[0] if new else "")


def _mark_deidentified(out: Dataset, replace_uid: Callable[[str], str]) -> None:
    """Empty the required type 2 attributes and record the method (PS3.15 E.1.1)."""
    from pydicom.dataset import Dataset

    for keyword in EMPTY_KEYWORDS[:8]:  # required type 2 attributes of the patient/study modules
        setattr(out, keyword, "")
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = [code]
    meta = getattr(out, "file_meta", None)
    if meta is not None:
        if "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = replace_uid(meta.MediaStorageSOPInstanceUID)
        if "SourceApplicationEntityTitle" in meta:
            del meta.SourceApplicationEntityTitle
