"""What the EC2 Query API (kumo.ec2) keeps: credentials, instance tags, seen signatures.

* ``ec2_credentials``: an access key id and its secret, belonging to a user and a project (as
  Keystone's ``openstack ec2 credentials``). AWS Signature Version 4 is an HMAC keyed by a value
  derived from the secret and the request's date, so the server needs the secret itself -- a
  one-way hash cannot verify a signature. The secret is therefore stored sealed (AES-GCM, the
  access key id as associated data) under a key kept outside the database
  (kumo.identity.credential_key): a copy of the database alone gives no secret away, as
  Keystone encrypts its credential blobs with the credential fernet keys.
* ``ec2_tags``: EC2 tags of instances (key -> value). Image tags are the images' properties
  (one answer: DescribeImages shows them, CreateTags on an image sets them).
* ``ec2_request_signatures``: signatures already accepted, until their request could no longer
  be accepted anyway (the timestamp window): a second request with one of them is a replay. In
  the database, so every controller sharing it refuses the replay.
* ``ec2_client_tokens``: RunInstances' ClientToken per project, with a digest of the request's
  other parameters, the reservation it made and the launch's journal entry: the same token
  again answers that reservation (waiting for a launch still running, finishing or rolling
  back one whose controller died), with other parameters IdempotentParameterMismatch
  (kumo.ec2.idempotency).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, Timestamps, UTCDateTime


class Ec2Credential(Timestamps, Base):
    __tablename__ = "ec2_credentials"

    #: the access key id the client sends (``AKIA`` + 16 base32 characters, as AWS forms them)
    access_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    #: base64(nonce || AES-GCM ciphertext of the secret), associated data the access key id
    secret_sealed: Mapped[str] = mapped_column(Text)


class Ec2Tag(Base):
    __tablename__ = "ec2_tags"

    instance_uuid: Mapped[str] = mapped_column(
        ForeignKey("instances.uuid", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), default="")
    project_id: Mapped[str] = mapped_column(String(64), index=True)


class Ec2RequestSignature(Base):
    __tablename__ = "ec2_request_signatures"

    #: the request's SigV4 signature (64 hex digits)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: after this the request's timestamp is outside the accepted window: the row may go
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Ec2ClientToken(Base):
    __tablename__ = "ec2_client_tokens"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: the client's token: up to 64 ASCII characters, case-sensitive (EC2's rule)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: sha256 (hex) of the request's parameters but the token and the signature's
    request_digest: Mapped[str] = mapped_column(String(64))
    reservation_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: the launch's journal entry (operation ``ec2-run``): unfinished while the launch runs
    #: (its owner's lease holds the token), done with the reservation's instances in its
    #: payload; None: a token recorded before revision 0021, whose launch was complete
    journal_id: Mapped[int | None] = mapped_column(Integer)
