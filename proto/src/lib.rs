//! The gRPC contracts of zhenggai, one module per versioned package.

pub mod clock {
    pub mod v1 {
        tonic::include_proto!("zhenggai.clock.v1");
    }
}

pub mod catalogue {
    pub mod v1 {
        tonic::include_proto!("zhenggai.catalogue.v1");
    }
}

pub mod ledger {
    pub mod v1 {
        tonic::include_proto!("zhenggai.ledger.v1");
    }
}

pub mod scheduler {
    pub mod v1 {
        tonic::include_proto!("zhenggai.scheduler.v1");
    }
}

pub mod notifier {
    pub mod v1 {
        tonic::include_proto!("zhenggai.notifier.v1");
    }
}

/// The encoded descriptors of every package, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("zhenggai_descriptor");
