"""What the listener accepts: SOP classes and transfer syntaxes (docs/dicom-conformance.md).

Deflated Explicit VR Little Endian is deliberately absent: inflating is unbounded work for a
few bytes on the wire, and ultrasound machines do not need it.
"""

from __future__ import annotations

from pydicom import uid

ULTRASOUND_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
SECONDARY_CAPTURE_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
ENHANCED_US_VOLUME_STORAGE = "1.2.840.10008.5.1.4.1.1.6.2"
VERIFICATION = "1.2.840.10008.1.1"
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"

STORAGE_SOP_CLASSES: tuple[str, ...] = (
    ULTRASOUND_IMAGE_STORAGE,
    ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
    SECONDARY_CAPTURE_IMAGE_STORAGE,
    ENHANCED_US_VOLUME_STORAGE,
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
