//! The catalogue's types and rules: no tonic, no sqlx.

pub mod document;
pub mod unit;

pub use document::{
    Document, DocumentDraft, NewAspect, NewDocument, NewMeasure, NewProblem, Problem,
    ResponsibleRef, ResponsibleScope, ResponsibleUnit,
};
pub use unit::{Level, Unit, UnitTable};
