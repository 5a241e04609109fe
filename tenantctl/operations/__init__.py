"""Operations: integrity (verify, repair), transfer (export, import) and doctor."""
