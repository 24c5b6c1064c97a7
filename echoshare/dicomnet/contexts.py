"""What the listener accepts: SOP classes and transfer syntaxes (docs/dicom-conformance.md).

Deflated Explicit VR Little Endian is deliberately absent: inflating is unbounded work for a
few bytes on the wire, and ultrasound machines do not need it.
"""

from __future__ import annotations

from pydicom import uid
from pynetdicom import sop_class

STORAGE_SOP_CLASSES: tuple[str, ...] = (
    sop_class.UltrasoundImageStorage,
    sop_class.UltrasoundMultiFrameImageStorage,
    sop_class.SecondaryCaptureImageStorage,
    sop_class.EnhancedUSVolumeStorage,
)

# Order matters: for a context offering several syntaxes pynetdicom picks the first of ours
# that the sender proposed; explicit VR keeps the value representations the machine wrote.
STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.JPEGBaseline8Bit,
    uid.JPEGLosslessSV1,
    uid.JPEGLossless,  # process 14, any selection value
    uid.RLELossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
)

# Queries and echoes carry no pixel data: the two uncompressed little endian syntaxes.
PLAIN_TRANSFER_SYNTAXES: tuple[str, ...] = (uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian)

VERIFICATION = sop_class.Verification
MODALITY_WORKLIST_FIND = sop_class.ModalityWorklistInformationFind
