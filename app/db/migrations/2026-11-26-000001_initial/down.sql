DROP TABLE images;
DROP TABLE commands;
DROP TABLE device_tags;
DROP TABLE devices;
DROP TABLE api_tokens;
