"""Storage shared by the vault, the archive and the mail import: envelope encryption
(`crypto`, with the communes' data keys), blob backends (`blobstore`: local directory
or S3) and the chunk pipeline (`chunks`: content cut, sealed and stored on the way in,
read back chunk by chunk). It knows nothing of files, folders or archived acts: each
app keeps its own index of what it stored here."""
