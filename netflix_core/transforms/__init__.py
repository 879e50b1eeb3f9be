"""Plain DataFrame -> DataFrame functions shared by the batch assets and the streaming job."""
