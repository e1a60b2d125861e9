-- Every user who delivered a photo's bytes (issue 10 item 4): an event may cite a photo only when
-- its actor uploaded it (or it is already attached to a case the actor can see). `photos.uploaded_by`
-- keeps the first uploader; this table also records later users who uploaded the same bytes.
CREATE TABLE photo_uploads (
    sha256 TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (sha256, user_id)
);
INSERT INTO photo_uploads (sha256, user_id, device_id, created_at)
    SELECT sha256, uploaded_by, device_id, created_at FROM photos;
-- The sweep of unreferenced photos reads photos by age.
CREATE INDEX photos_created_at ON photos (created_at);
