pytest_plugins = ["tests.support.mail_fixtures", "tests.support.db_fixtures"]
